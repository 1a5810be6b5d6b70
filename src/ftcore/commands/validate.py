"""``ftcore validate run.toml``: report every problem of a run file at once, without loading a model."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("validate", help="check a run.toml and report every problem")
    p.add_argument("config", help="path to run.toml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a value")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.config import load_config
    from ftcore.validation import check_references

    cfg = load_config(args.config, args.set)
    check_references(cfg)
    print(f"{args.config}: ok")
    return 0

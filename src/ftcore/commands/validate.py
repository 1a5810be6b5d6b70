"""``ftcore validate run.toml``: report every problem of a run file at once, without loading a model."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check a run.toml and report every problem",
        description="Check a run.toml: keys, values, combinations, names (models, templates, datasets), files and "
        "local plugin files. Every problem is one line, 'run.toml: <key>: <message>'; exit status 2 if any.",
    )
    p.add_argument("config", help="path to run.toml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a value (repeatable)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the file and its references; print ``<file>: ok`` or raise every problem at once."""
    from ftcore.validation import validate_file

    validate_file(args.config, args.set)
    print(f"{args.config}: ok")
    return 0

"""``ftcore config schema``: the JSON Schema of run.toml, for editors."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="run.toml helpers (schema)")
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    s = sub.add_parser("schema", help="print the JSON Schema of run.toml")
    s.set_defaults(func=run_schema)


def run_schema(args: argparse.Namespace) -> int:
    from ftcore.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0

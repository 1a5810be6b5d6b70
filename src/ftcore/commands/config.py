"""``ftcore config schema|show``: the JSON Schema of run.toml (for editors) and a run file fully resolved."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="run.toml helpers (schema, show)")
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    s = sub.add_parser(
        "schema", help="print the JSON Schema of run.toml (e.g. for the Even Better TOML extension)"
    )
    s.set_defaults(func=run_schema)
    show = sub.add_parser("show", help="print a run.toml with every default filled in (what a run will use)")
    show.add_argument("config", help="path to run.toml")
    show.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a value (repeatable)",
    )
    show.set_defaults(func=run_show)


def run_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of run.toml."""
    from ftcore.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print the resolved config as TOML (the file's values, ``--set`` overrides, and every default)."""
    from ftcore.config import config_to_toml, load_config

    print(config_to_toml(load_config(args.config, args.set)), end="")
    return 0

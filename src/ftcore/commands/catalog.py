"""``ftcore models|templates|datasets``: the catalog with the plugin that owns each entry."""

from __future__ import annotations

import argparse
import json

from ftcore.specs import spec_to_dict

COLUMNS = {
    "model": ("name", "plugin", "template", "hub", "tags"),
    "template": ("name", "plugin", "kind", "description"),
    "dataset": ("name", "plugin", "hub", "task", "languages", "tags"),
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    for kind in ("model", "template", "dataset"):
        p = subparsers.add_parser(f"{kind}s", help=f"list registered {kind}s")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--plugin", help="only entries of this plugin (distribution name)")
        p.add_argument("--tag", action="append", default=[], help="only entries with this tag (repeatable)")
        p.add_argument("--search", help="only entries whose name contains this text")
        p.set_defaults(func=run, kind=kind)


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    from ftcore.registry import get_catalog

    catalog = get_catalog()
    specs = list(catalog.table(args.kind))
    if args.plugin:
        specs = [s for s in specs if s.plugin.split(" ")[0] == args.plugin]
    for tag in args.tag:
        specs = [s for s in specs if tag in s.tags or tag == getattr(s, "task", None)]
    if args.search:
        specs = [s for s in specs if args.search.lower() in s.name]
    if args.json:
        print(json.dumps([spec_to_dict(s) for s in specs], indent=2, ensure_ascii=False, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(*COLUMNS[args.kind])
    for s in specs:
        table.add_row(*(_cell(getattr(s, c)) for c in COLUMNS[args.kind]))
    console = Console()
    console.print(table)
    console.print(f"{len(specs)} {args.kind}s")
    for err in catalog.errors:
        console.print(f"[red]error:[/red] {err}", highlight=False)
    return 0

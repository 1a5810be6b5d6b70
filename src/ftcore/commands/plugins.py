"""``ftcore plugins``: the installed plugins, the hooks each implements, what each registered, broken ones."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list installed plugins (and broken ones)")
    p.add_argument("--all", action="store_true", help="include the built-in plugins")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.plugins import plugin_infos
    from ftcore.registry import get_catalog

    catalog = get_catalog()
    rows = []
    for info in plugin_infos(include_builtin=args.all):
        owner = f"{info.dist} {info.version}"
        row = info.as_dict()
        row["registered"] = {
            kind: [s.name for s in catalog.table(kind) if s.plugin == owner]
            for kind in ("model", "template", "dataset")
        }
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "version", "hooks", "registered", "status")
    for row in rows:
        reg = ", ".join(f"{len(v)} {k}s" for k, v in row["registered"].items() if v) or "-"
        status = f"[red]{row['error']}[/red]" if row["error"] else "ok"
        table.add_row(row["dist"], row["version"], ", ".join(row["hooks"]), reg, status)
    console = Console()
    console.print(table)
    for err in catalog.errors:
        console.print(f"[red]error:[/red] {err}", highlight=False)
    return 0

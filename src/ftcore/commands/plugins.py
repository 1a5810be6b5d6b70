"""``ftcore plugins``: the installed plugins, the hooks each implements, what each registered, broken ones."""

from __future__ import annotations

import argparse
import json
from typing import Any

KINDS = ("model", "template", "dataset")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plugins",
        help="list installed plugins (and broken ones)",
        description="List installed plugins: distribution, version, hooks, what each registered, and errors.",
    )
    p.add_argument("--all", action="store_true", help="include the built-in plugins")
    p.add_argument("--json", action="store_true", help="print JSON (a list of objects)")
    p.set_defaults(func=run)


def collect(include_builtin: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """One dict per plugin (``name, dist, version, module, builtin, local, hooks, error, registered``) and the
    catalog's registration errors."""
    from ftcore.plugins import plugin_infos
    from ftcore.registry import get_catalog

    catalog = get_catalog()
    rows = []
    for info in plugin_infos(include_builtin=include_builtin):
        row = info.as_dict()
        row["registered"] = {
            f"{kind}s": [name for name, owner in catalog.table(kind).owners.items() if owner == info.name]
            for kind in KINDS
        }
        rows.append(row)
    return rows, list(catalog.errors)


def _registered(row: dict[str, Any]) -> str:
    parts = []
    for kind in KINDS:
        names = row["registered"][f"{kind}s"]
        if names:
            parts.append(f"{len(names)} {kind}{'s' if len(names) != 1 else ''}")
    return ", ".join(parts) or "-"


def run(args: argparse.Namespace) -> int:
    rows, errors = collect(args.all)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in ("plugin", "version", "hooks"):
        table.add_column(column, no_wrap=True)
    for column in ("registered", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        name = f"{row['dist']} ({row['name'].rsplit('.', 1)[-1]})" if row["builtin"] else row["dist"]
        status = Text("failed to load", style="red") if row["error"] else "ok"
        table.add_row(Text(name), Text(row["version"]), "\n".join(row["hooks"]), _registered(row), status)
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print("no plugins loaded" + ("" if args.all else " (--all shows the built-in ones)"))
    for err in [row["error"] for row in rows if row["error"]] + errors:
        console.print(f"error: {err}", style="red", highlight=False, markup=False, soft_wrap=True)
    return 0

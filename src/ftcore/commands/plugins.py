"""``ftcore plugins``: the installed plugins, the hooks each implements, what each registered, broken ones.

Every problem (a plugin that failed to load, a hook that raised, an invalid spec, a name two plugins register)
is printed once, on stderr, as ``error: <line>``; the exit status is 1 when there is any, so CI can run
``ftcore plugins`` as a check.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
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
    """One dict per plugin (``name, dist, version, module, builtin, local, hooks, status, error, registered``)
    and the catalog's registration errors. ``status`` is ``ok``, ``failed to load`` or ``error`` (a hook raised
    or registered an invalid spec; ``error`` is then that problem's line)."""
    from ftcore.plugins import FtcoreWarning, plugin_infos
    from ftcore.registry import get_catalog

    with warnings.catch_warnings():  # broken plugins are printed below as errors, not warned about twice
        warnings.filterwarnings("ignore", r"plugin .* failed to load", FtcoreWarning)
        catalog = get_catalog()
        infos = plugin_infos(include_builtin=True)
    rows = []
    for info in infos:
        problems = catalog.plugin_errors.get(info.name, [])
        if info.error is None and problems:
            info.status, info.error = "error", problems[0]
        if info.builtin and not include_builtin and info.status == "ok":
            continue
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


def problems(rows: list[dict[str, Any]], errors: list[str]) -> list[str]:
    """Every problem once: each broken plugin's error, then the catalog's other registration errors."""
    out = [row["error"] for row in rows if row["error"]]
    return out + [e for e in errors if e not in out]


def run(args: argparse.Namespace) -> int:
    rows, errors = collect(args.all)
    found = problems(rows, errors)
    if args.json:
        print(json.dumps(rows, indent=2))
        _print_errors(found)
        return 1 if found else 0
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
        status = Text(row["status"], style="red") if row["status"] != "ok" else "ok"
        table.add_row(Text(name), Text(row["version"]), "\n".join(row["hooks"]), _registered(row), status)
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print("no plugins loaded" + ("" if args.all else " (--all shows the built-in ones)"))
    _print_errors(found)
    return 1 if found else 0


def _print_errors(found: list[str]) -> None:
    # FTCORE_DEBUG=1: the tracebacks were printed where the plugins failed (loading, building the catalog)
    for err in found:
        print(f"error: {err}", file=sys.stderr)

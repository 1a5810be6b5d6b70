"""``ftcore stages``: the registered training stages (``train.stage``), their data, options and owner."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stages",
        help="list registered training stages (train.stage)",
        description="List the registered training stages (the values of train.stage): the data each trains on, "
        "its options table in run.toml with the defaults, and the plugin that owns it.",
    )
    p.add_argument("--json", action="store_true", help="print JSON (every field of each spec, options with defaults)")
    p.set_defaults(func=run)


def stage_rows() -> list[dict[str, Any]]:
    """One dict per registered stage: name, plugin, data, options (``key = default`` per option), description."""
    from ftcore.registry import get_catalog
    from ftcore.specs import spec_to_dict

    rows = []
    for spec in get_catalog().stages:
        row = spec_to_dict(spec)
        row["recipe"] = spec.recipe if isinstance(spec.recipe, str) else \
            f"{spec.recipe.__module__}:{spec.recipe.__qualname__}"
        try:
            model = spec.options_model()
            row["options"] = {} if model is None else {
                name: f.get_default(call_default_factory=True) for name, f in model.model_fields.items()}
        except Exception as exc:  # noqa: BLE001 - a plugin's options that cannot be imported: shown, not fatal
            row["options"] = {"error": str(exc)}
        row["plugin"] = spec.plugin.split(" ")[0]
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    rows = stage_rows()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for column in ("stage", "plugin", "data", "options [table]", "description"):
        table.add_column(column)
    for row in rows:
        options = ", ".join(f"{k}={v!r}" for k, v in row["options"].items()) or "—"
        table.add_row(row["name"], row["plugin"], row["data"], options, row["description"])
    Console(soft_wrap=False).print(table)
    return 0

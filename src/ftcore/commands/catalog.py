"""``ftcore models|templates|datasets|tuners``: the catalog with the plugin that owns each entry."""

from __future__ import annotations

import argparse
import json
from typing import Any

COLUMNS = {
    "model": ("name", "plugin", "template", "hub", "tags"),
    "template": ("name", "plugin", "kind", "description"),
    "dataset": ("name", "plugin", "task", "languages", "tags"),
    "tuner": ("name", "plugin", "options", "default_lr", "merge", "quantized", "zero3"),
}

#: table column -> TunerSpec field
_TUNER_FLAGS = {"merge": "supports_merge", "quantized": "supports_quantized", "zero3": "supports_zero3"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    for kind in ("model", "template", "dataset", "tuner"):
        what = "tuning methods (tuner.method)" if kind == "tuner" else f"{kind}s"
        extra = (
            " Each method's [tuner] keys with their defaults, the lr of train.lr = \"auto\", and whether it"
            " supports merging, quantized base models and DeepSpeed ZeRO-3." if kind == "tuner" else ""
        )
        p = subparsers.add_parser(
            f"{kind}s",
            help=f"list registered {what}",
            description=f"List the registered {what} and the plugin that owns each.{extra} Filters combine (and).",
        )
        p.add_argument("--json", action="store_true", help="print JSON (every field of each spec)")
        p.add_argument("--plugin", help="only entries of this plugin (distribution or entry-point name)")
        p.add_argument("--tag", action="append", default=[], help="only entries with this tag (repeatable)")
        p.add_argument("--search", help="only entries whose name or description contains this text")
        if kind == "model":
            p.add_argument("--template", help="only models whose default template is this one")
        if kind == "dataset":
            p.add_argument("--task", help="only datasets of this task (chat, text-generation, …)")
            p.add_argument("--language", help="only datasets in this language (en, zh, …)")
            # `ftcore datasets show NAME [--file F]` (dataset packs, issue 9)
            p.add_argument("show", nargs="*", metavar="show NAME",
                           help="print one dataset's spec (and a local-file dataset's first rows, normalized)")
            p.add_argument("--file", help="with show: print the normalized form of a local file's first rows")
            p.add_argument("--rows", type=int, default=3, help="with show: how many rows (default 3)")
        p.set_defaults(func=run, kind=kind)


def select(kind: str, args: argparse.Namespace) -> list[Any]:
    """The catalog entries of ``kind`` that pass the command's filters, in registration order."""
    from ftcore.registry import get_catalog

    table = get_catalog().table(kind)
    specs = list(table)
    if args.plugin:
        specs = [s for s in specs if args.plugin in (s.plugin.split(" ")[0], table.owners.get(s.name))]
    for tag in args.tag:
        specs = [s for s in specs if tag in s.tags]
    if args.search:
        text = args.search.lower()
        specs = [s for s in specs if text in s.name or text in s.description.lower()]
    if getattr(args, "template", None):
        specs = [s for s in specs if s.template == args.template]
    if getattr(args, "task", None):
        specs = [s for s in specs if s.task == args.task]
    if getattr(args, "language", None):
        specs = [s for s in specs if args.language in s.languages]
    return specs


def _table_value(spec: Any, column: str) -> Any:
    """What the table shows: the hub column is one id (Hugging Face, else ModelScope, else the local path), the
    plugin column the distribution without its version (``--json`` has everything)."""
    if column == "hub":
        hub = spec.hub or {}
        return hub.get("huggingface") or hub.get("modelscope") or spec.path or ""
    if column == "plugin":
        return spec.plugin.split(" ")[0]
    if column == "options":
        try:
            fields = tuner_option_fields(spec)
        except Exception as exc:  # noqa: BLE001 - a plugin's options model that cannot be imported
            return f"error: {exc}"
        return [f"{name}={field['default']!r}" for name, field in fields.items()] or "none"
    if column in _TUNER_FLAGS:
        return "yes" if getattr(spec, _TUNER_FLAGS[column]) else "no"
    return getattr(spec, column)


def tuner_option_fields(spec: Any) -> dict[str, dict[str, Any]]:
    """The ``[tuner]`` keys of a method: name -> default and description (from its options model)."""
    model = spec.options_model()
    if model is None:
        return {}
    out = {}
    for name, f in model.model_fields.items():
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        out[name] = {"default": default, "required": f.is_required(), "description": f.description or ""}
    return out


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    from ftcore.registry import get_catalog
    from ftcore.specs import spec_to_dict

    if getattr(args, "show", None):
        return show_dataset(args)
    specs = select(args.kind, args)
    catalog = get_catalog()
    if args.json:
        rows = [spec_to_dict(s) for s in specs]
        if args.kind == "tuner":
            for row, s in zip(rows, specs, strict=True):
                row["option_fields"] = tuner_option_fields(s)
        print(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in COLUMNS[args.kind]:
        # names are never broken; the version is in `ftcore plugins`; long free text folds
        table.add_column(column, no_wrap=column in ("name", "plugin"), overflow="fold")
    for s in specs:
        # Text, not str: rich would read "[/INST]" in a template's description as markup
        table.add_row(*(Text(_cell(_table_value(s, c))) for c in COLUMNS[args.kind]))
    console = Console()
    console.print(table)
    console.print(f"{len(specs)} {args.kind}{'s' if len(specs) != 1 else ''}", highlight=False)
    errors = Console(stderr=True)  # problems go to stderr, as in every command (ftcore plugins too)
    for err in catalog.errors:
        errors.print(f"error: {err}", style="red", highlight=False, markup=False, soft_wrap=True)
    return 0


# --------------------------------------------------------------------------------------------------
# `ftcore datasets show NAME [--file F] [--rows N]`


def show_dataset(args: argparse.Namespace) -> int:
    """Print a dataset's spec and the normalized form of the first rows of ``--file``, or, without it, of the
    dataset's own file when it is a local-file dataset (``path``). Rows are numbered from 1, as the run's data
    report and docs/data.md count them."""
    from ftcore.errors import FtcoreError
    from ftcore.registry import get_dataset_spec
    from ftcore.specs import spec_to_dict

    if len(args.show) != 2 or args.show[0] != "show":
        raise FtcoreError(f"usage: ftcore datasets show NAME [--file F] (got: {' '.join(args.show)})")
    spec = get_dataset_spec(args.show[1])
    print(json.dumps(spec_to_dict(spec), indent=2, ensure_ascii=False, default=str))
    file = args.file
    if not file and spec.path and spec.get is None:
        from ftcore.data.loading import resolve_local_path

        own = resolve_local_path(spec.path)
        if own.is_file():
            file = str(own)
            print(f"--- the first {max(args.rows, 0)} rows of {spec.path}")
    if not file:
        return 0
    from ftcore.data.normalize import normalize_one  # what a run does to each row

    for i, row in enumerate(_first_rows(file, max(args.rows, 0)), 1):
        out, reason, detail = normalize_one(row, spec.columns or None, spec.preprocess)
        print(f"--- row {i}")
        if out is not None:
            from ftcore.data.pairs import public_pair, row_kind  # a preference row in its documented form

            if row_kind(out["messages"]) != "sft":
                out = {**public_pair(out["messages"]), **({"images": out["images"]} if out.get("images") else {})}
            print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
        elif reason == "dropped by preprocess":
            print(reason)
        else:
            print(f"bad row: {reason}" + (f": {detail}" if detail else ""))
    return 0


def _first_rows(path: str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a local jsonl / json / csv / tsv file (other formats through the data loader)."""
    import csv
    import itertools
    from pathlib import Path

    from ftcore.errors import FtcoreError

    file = Path(path).expanduser()
    if not file.is_file():
        raise FtcoreError(f"--file {path}: file not found")
    suffix = file.suffix.lower()
    from ftcore.data.loading import TEXT_SUFFIXES, check_text_file

    if suffix in TEXT_SUFFIXES:
        file = check_text_file(file, label=f"--file {path}")
    try:
        with open(file, encoding="utf-8-sig", newline="") as f:
            if suffix == ".jsonl":
                lines = (line for line in f if line.strip())
                return [json.loads(line) for line in itertools.islice(lines, n)]
            if suffix == ".json":
                data = json.load(f)
                return list(data[:n] if isinstance(data, list) else [data][:n])
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                return [dict(r) for r in itertools.islice(reader, n)]
    except (ValueError, UnicodeDecodeError) as exc:
        raise FtcoreError(f"--file {path}: cannot read it: {exc}") from None
    from ftcore.data.loading import load_file

    ds = load_file(file)
    return [dict(ds[i]) for i in range(min(n, len(ds)))]

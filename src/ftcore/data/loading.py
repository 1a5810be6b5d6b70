"""Raw rows of one DatasetSpec: local files and folders, bundled files, Hugging Face and ModelScope datasets.

:func:`ftcore.data.hub.load_spec` (what the built-in ``load_dataset`` hook does) reads local data through this
module and hub datasets through :mod:`ftcore.data.hub`.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftcore.data.textfiles import TEXT_SUFFIXES, check_text_file
from ftcore.errors import FtcoreError
from ftcore.specs import DatasetOptions, DatasetSpec

log = logging.getLogger("ftcore.data")

#: file suffix -> datasets builder
BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".arrow": "arrow"}
BUNDLED_DIR = Path(__file__).parent / "bundled"
BUILTIN_PREFIX = "builtin:"
OFFLINE_VARS = ("FTCORE_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
#: split names taken as a folder's / repo's validation split (in this order) when present
VALIDATION_SPLITS = ("validation", "valid", "val", "dev")

#: the column holding raw JSON text when a json file cannot be read column-wise (mixed types per column)
JSON_COLUMN = "_json"
#: each raw row's 1-based number in its source (added before any split or sample, for the report)
ROW_COLUMN = "_ftcore_row"


# --------------------------------------------------------------------------------------------------
# helpers


def is_offline() -> bool:
    """Downloads are off (any of :data:`OFFLINE_VARS` set to a true value)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


def resolve_local_path(path: str) -> Path:
    """``builtin:<file>`` → the bundled file; ``~`` expanded. The path must exist."""
    if path.startswith(BUILTIN_PREFIX):
        p = BUNDLED_DIR / path[len(BUILTIN_PREFIX):]
        if not p.exists():
            known = ", ".join(sorted(f.name for f in BUNDLED_DIR.glob("*"))) if BUNDLED_DIR.is_dir() else "none"
            raise FtcoreError(f"data: {path}: no such bundled file (bundled: {known})")
        return p
    p = Path(os.path.expanduser(path))
    try:
        if not p.exists():
            raise FtcoreError(f"data: {path}: file not found")
    except (OSError, ValueError) as exc:  # a name too long …
        raise FtcoreError(f"data: {path[:200]}: cannot be looked up ({getattr(exc, 'strerror', None) or exc})") from None
    return p


def parse_split(entry: str) -> tuple[str | None, str]:  # "subset:split" → (subset, split); "split" → (None, split)
    if ":" in entry:
        subset, split = entry.split(":", 1)
        return (subset or None), (split or "train")
    return None, entry


def _datasets() -> Any:
    import datasets
    return datasets


def _concat(parts: list[Any]) -> Any:
    parts = [p for p in parts if p is not None]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return _datasets().concatenate_datasets(parts)


def _pick_split(dd: Any, split: str, where: str) -> Any:
    """One split of a DatasetDict; a lone split stands in for ``train``."""
    if not hasattr(dd, "keys"):
        return dd
    if split in dd:
        return dd[split]
    if split in VALIDATION_SPLITS:  # "val" ↔ "validation" (the datasets library's name for val.jsonl) ...
        for alias in VALIDATION_SPLITS:
            if alias in dd:
                return dd[alias]
    if split == "train" and len(dd) == 1:
        return next(iter(dd.values()))
    raise FtcoreError(f"data: {where}: no split {split!r} (it has: {', '.join(dd)})")


def _validation_of(dd: Any) -> Any:
    if not hasattr(dd, "keys"):
        return None
    for name in VALIDATION_SPLITS:
        if name in dd:
            return dd[name]
    return None


def with_row_numbers(ds: Any) -> Any:
    """``ds`` with :data:`ROW_COLUMN` (1-based, source order) unless it has one; streams are numbered as read."""
    if ds is None or not hasattr(ds, "__len__") or ROW_COLUMN in (ds.column_names or ()):
        return ds
    fp = getattr(ds, "_fingerprint", None)
    return ds.add_column(ROW_COLUMN, list(range(1, len(ds) + 1)), **({"new_fingerprint": f"{fp}-rows"} if fp else {}))


def sample_rows(ds: Any, n: int | None, seed: int, *, number: bool = True) -> Any:
    """At most ``n`` rows: a seeded random subset kept in source order (raw rows numbered first, see
    :func:`with_row_numbers`; ``number=False`` for normalized rows); a streamed set takes its first ``n``."""
    if ds is None or n is None or n < 0:
        return ds
    if not hasattr(ds, "__len__"):
        return ds.take(n)
    if len(ds) <= n:
        return ds
    return (with_row_numbers(ds) if number else ds).select(sorted(random.Random(seed).sample(range(len(ds)), n)))


# --------------------------------------------------------------------------------------------------
# local files and folders


def _read_json_rows(path: Path, label: Path | None = None) -> Iterable[dict[str, Any]]:
    """Rows of a json / jsonl file as raw JSON text with their line (item) numbers (used when the columns do not
    have one type each)."""
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped.startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FtcoreError(f"data: {label or path}: not valid JSON ({exc}); fix the file") from None
        for i, item in enumerate(data, 1):
            yield {JSON_COLUMN: json.dumps(item, ensure_ascii=False), ROW_COLUMN: i}
        return
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield {JSON_COLUMN: line, ROW_COLUMN: i}


def load_file(path: Path, *, streaming: bool = False, encoding: str | None = None) -> Any:
    """One local data file as a ``datasets.Dataset`` (``IterableDataset`` when streaming). Text files are read
    as UTF-8 (a BOM and CRLF line ends are fine) or in ``encoding``; see :func:`check_text_file`."""
    datasets = _datasets()
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise FtcoreError(
            f"data: {path}: unsupported file type {path.suffix or '(none)'} (use {', '.join(sorted(BUILDERS))})"
        )
    source = path
    if path.suffix.lower() in TEXT_SUFFIXES:
        path = check_text_file(path, encoding)
    kwargs: dict[str, Any] = {}
    if path.suffix.lower() == ".tsv":
        kwargs["sep"] = "\t"
    try:
        return datasets.load_dataset(builder, data_files={"train": str(path)}, split="train",
                                     streaming=streaming, **kwargs)
    except Exception as exc:  # noqa: BLE001 - mixed column types, a broken line ...
        if builder != "json":
            raise FtcoreError(f"data: {source}: cannot be read as {builder} ({_short(exc)}); fix the file") from None
        log.info("data: %s: reading row by row (%s)", source, _short(exc))
    rows = list(_read_json_rows(path, source))
    if streaming:
        return datasets.Dataset.from_list(rows).to_iterable_dataset()
    return datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({JSON_COLUMN: []})


def _data_files_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in BUILDERS and not any(part.startswith(".") for part in
                                                                     p.relative_to(folder).parts)
    )


def load_folder(folder: Path, *, subset: str | None = None, data_files: list[str] | None = None,
                streaming: bool = False, encoding: str | None = None) -> Any:
    """A folder (a local dataset or a hub snapshot) as a DatasetDict, through the datasets library's own
    layout rules (``README.md`` configs, ``train`` / ``validation`` file names, ``data/`` folders)."""
    datasets = _datasets()
    kwargs: dict[str, Any] = {}
    if data_files:
        kwargs["data_files"] = {"train": [str(folder / f) for f in data_files]}
    elif subset and subset != "default":
        if (folder / subset).is_dir():
            kwargs["data_dir"] = subset
        else:
            kwargs["name"] = subset
    elif not (folder / "README.md").exists():
        files = _data_files_in(folder)
        if not files:
            raise FtcoreError(f"data: {folder}: no data files (jsonl, json, csv, tsv, parquet) in the folder")
        if len(files) == 1:
            return {"train": load_file(files[0], streaming=streaming, encoding=encoding)}
    if encoding:
        kwargs["encoding"] = encoding
    for file in (f for f in _data_files_in(folder) if f.suffix.lower() in TEXT_SUFFIXES):
        check_text_file(file, encoding)  # one line naming the file and line, not a decode error mid-map
    try:
        return datasets.load_dataset(str(folder), streaming=streaming, **kwargs)
    except FileNotFoundError as exc:
        raise FtcoreError(f"data: {folder}: {_short(exc)}") from None
    except ValueError as exc:
        raise FtcoreError(f"data: {folder}: {_short(exc)}") from None


def _load_parts(loader: Any, entries: list[str], where: str) -> Any:
    """Concatenate ``loader(subset)`` picked at each entry's split."""
    parts = []
    for entry in entries:
        subset, split = parse_split(entry)
        parts.append(_pick_split(loader(subset), split, f"{where} {entry}"))
    return _concat(parts)


def load_local(spec: DatasetSpec, options: DatasetOptions) -> Any:
    """``spec.path`` (a file, a folder or ``builtin:<file>``) → a dataset, or (train, validation)."""
    assert spec.path is not None
    path = resolve_local_path(spec.path)
    if path.is_file():
        return load_file(path, streaming=options.streaming, encoding=options.encoding)
    cache: dict[Any, Any] = {}

    def loader(subset: str | None) -> Any:
        if subset not in cache:
            cache[subset] = load_folder(path, subset=subset, data_files=spec.data_files or None,
                                        streaming=options.streaming, encoding=options.encoding)
        return cache[subset]

    train = _load_parts(loader, spec.train or ["train"], spec.path)
    if spec.validation:
        return train, _load_parts(loader, spec.validation, spec.path)
    return train, _validation_of(loader(parse_split((spec.train or ["train"])[0])[0]))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"[:300]

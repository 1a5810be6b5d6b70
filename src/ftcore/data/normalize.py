"""Raw rows → the normalized shape (``messages`` / ``images``), with bad rows marked and counted.

Each normalized set carries the internal columns ``_error`` / ``_detail`` (why a row is unusable) and ``_row`` /
``_src`` (where it came from, for the report) until :func:`collect_bad_rows` takes the usable rows.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ftcore.data.formats import (
    DROPPED,
    UNPARSEABLE_ROW,
    WRONG_TYPE,
    BadRow,
    check_normalized,
    normalize_row,
    rename_columns,
)
from ftcore.data.loading import BUILTIN_PREFIX, JSON_COLUMN, ROW_COLUMN
from ftcore.data.maps import BATCH, map_cache_file, num_proc_for, progress_bars
from ftcore.data.pairs import normalize_preference_row
from ftcore.data.report import DataReport, strict_error
from ftcore.data.sources import Source
from ftcore.errors import FtcoreError
from ftcore.specs import DatasetSpec

PREPROCESS_FAILED = "preprocess failed"
#: the internal columns of normalized (and encoded) sets, removed before they are handed out
INTERNAL = ("_error", "_detail", "_row", "_src")


def normalized_features() -> Any:
    from datasets import Features, List, Value

    return Features({
        "messages": List({"role": Value("string"), "content": Value("string")}),
        "images": List(Value("string")),
        "_error": Value("string"),
        "_detail": Value("string"),
        "_row": Value("int64"),
        "_src": Value("int32"),
    })


def normalize_one(row: dict[str, Any], columns: Mapping[str, str] | None,
                  preprocess: Callable[[dict[str, Any]], Any] | None) -> tuple[dict[str, Any] | None, str | None,
                                                                             str | None]:
    """(normalized row, None, None) or (None, reason, detail)."""
    try:
        if JSON_COLUMN in row and len(row) == 1:
            try:
                row = json.loads(row[JSON_COLUMN])
            except ValueError:
                raise BadRow(UNPARSEABLE_ROW, "not valid JSON") from None
            if not isinstance(row, dict):
                raise BadRow(WRONG_TYPE, f"row is {type(row).__name__}, expected an object")
        if preprocess is None:
            renamed = rename_columns(row, columns)
            return normalize_preference_row(renamed) or normalize_row(renamed), None, None
        result = preprocess(rename_columns(row, columns))
        if result is None:
            return None, DROPPED, None
        pair = normalize_preference_row(result) if isinstance(result, Mapping) else None
        return pair or check_normalized(result), None, None
    except BadRow as exc:
        return None, exc.reason, exc.detail
    except Exception as exc:  # noqa: BLE001 - a plugin's preprocess function failing on one row
        if preprocess is None:
            raise
        return None, PREPROCESS_FAILED, f"{type(exc).__name__}: {exc}"[:200]


def image_base_dir(spec: DatasetSpec) -> str | None:
    """The folder relative image paths of a local dataset resolve against: the data file's folder (or the
    dataset folder itself); None for hub and bundled datasets."""
    path = spec.path
    if not path or path.startswith(BUILTIN_PREFIX) or "://" in path:
        return None
    p = Path(os.path.expanduser(path))
    return str(p if p.is_dir() else p.parent)


def resolve_image(item: str, base: str | None) -> str:
    """An image path of a row: relative paths join ``base``; absolute paths and URLs stay as they are."""
    if base is None or not item or "://" in item or item.startswith("data:"):
        return item
    p = Path(os.path.expanduser(item))
    return str(p if p.is_absolute() else Path(base) / p)


def normalize_batch(batch: dict[str, list[Any]], indices: list[int], *, columns: Mapping[str, str] | None,
                     preprocess: Any, src: int, row_ids: Sequence[int] | None = None,
                     image_base: str | None = None) -> dict[str, list[Any]]:
    keys = [k for k in batch if k != ROW_COLUMN]
    if ROW_COLUMN in batch:  # numbered in the source before any split or sample
        indices = [int(n) - 1 for n in batch[ROW_COLUMN]]
    elif row_ids is not None:  # a selection: report the rows' numbers in the source, not in the selection
        indices = [row_ids[i] for i in indices]
    out: dict[str, list[Any]] = {"messages": [], "images": [], "_error": [], "_detail": [], "_row": [], "_src": []}
    for i, index in enumerate(indices):
        norm, reason, detail = normalize_one({k: batch[k][i] for k in keys}, columns, preprocess)
        out["messages"].append(norm["messages"] if norm else [])
        out["images"].append([resolve_image(str(x), image_base) for x in norm["images"]] if norm else [])
        out["_error"].append(reason)
        out["_detail"].append(detail)
        out["_row"].append(index + 1)
        out["_src"].append(src)
    return out



def normalize_dataset(ds: Any, source: Source, src: int, *, num_proc: int = 1, fingerprint: str | None = None
                      ) -> Any:
    """Raw rows → ``messages`` / ``images`` plus the internal ``_error`` / ``_detail`` / ``_row`` / ``_src``."""
    indices = getattr(ds, "_indices", None)
    row_ids = indices.column(0).to_pylist() if indices is not None else None
    fn = partial(normalize_batch, columns=source.spec.columns or None, preprocess=source.spec.preprocess, src=src,
                 row_ids=row_ids, image_base=image_base_dir(source.spec))
    if not hasattr(ds, "__len__"):  # streaming
        return ds.map(fn, batched=True, batch_size=BATCH, with_indices=True, features=normalized_features(),
                      remove_columns=ds.column_names).select_columns(list(normalized_features()))
    missing = [c for c in (source.spec.columns or {}) if c not in ds.column_names and c != ROW_COLUMN]
    if missing and source.spec.preprocess is None and JSON_COLUMN not in ds.column_names:
        raise FtcoreError(
            f"data: {source.label}: column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"of the column mapping not found (the columns are: "
            f"{', '.join(c for c in ds.column_names if c != ROW_COLUMN)}); fix columns = {{...}} of its entry"
        )
    with progress_bars(len(ds)):
        return ds.map(
            fn, batched=True, batch_size=BATCH, with_indices=True, features=normalized_features(),
            remove_columns=ds.column_names, num_proc=num_proc_for(ds, num_proc), load_from_cache_file=False,
            new_fingerprint=fingerprint or uuid.uuid4().hex, cache_file_name=map_cache_file(fingerprint),
            desc=f"ftcore: reading {source.label}",
        )


def collect_bad_rows(ds: Any, labels: Sequence[str], part: str, report: DataReport, *, strict: bool) -> Any:
    """Count ``_error`` rows into ``report`` (per source), raise on the first one when ``strict``, and return
    the usable rows without the ``_error`` / ``_detail`` columns."""
    table = ds.data if ds._indices is None else ds.flatten_indices().data
    errors = table.column("_error").to_pylist()
    srcs = table.column("_src").to_pylist()
    rows = table.column("_row").to_pylist()
    for s in dict.fromkeys(srcs):
        report.source(labels[s], part).rows += srcs.count(s)
    keep = []
    details = None
    for i, reason in enumerate(errors):
        if reason is None:
            keep.append(i)
            continue
        if strict and reason != DROPPED:
            details = details or table.column("_detail").to_pylist()
            raise strict_error(labels[srcs[i]], rows[i], reason, details[i])
        report.source(labels[srcs[i]], part).add(reason, rows[i])
    if len(keep) < len(errors):
        ds = ds.select(keep)
    return ds.remove_columns(["_error", "_detail"])


def public_rows(ds: Any) -> Any:
    """``ds`` without the internal columns (None stays None)."""
    if ds is None:
        return None
    return ds.remove_columns([c for c in ds.column_names if c in INTERNAL])

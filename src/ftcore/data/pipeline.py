"""The data stage of a run: resolve → load → normalize → split / mix / sample → encode → cache.

``prepare_data(cfg, template, tokenizer)`` returns encoded training and validation sets (``input_ids``,
``labels``, ``length``), the bad-row report and fingerprints. Eager mode (the default) encodes everything
ahead of training, batched with ``data.num_proc`` processes, and caches the result under
``<cache>/data/<fingerprint>/`` so a second run with the same data, template, tokenizer and settings starts
without re-tokenizing. ``data.lazy`` encodes each sample when the trainer asks for it; ``data.streaming``
never materializes the source (an ``IterableDataset``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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
from ftcore.data.loading import BUILDERS, BUILTIN_PREFIX, JSON_COLUMN, sample_rows
from ftcore.data.report import DataReport, strict_error
from ftcore.errors import FtcoreError
from ftcore.specs import DatasetOptions, DatasetSpec, spec_to_dict

log = logging.getLogger("ftcore.data")

#: bump when the encoded layout or the pipeline's semantics change (invalidates every cache entry)
CACHE_VERSION = "2"  # 2: multimodal rows keep their pixel inputs
PREPROCESS_FAILED = "preprocess failed"
INTERNAL = ("_error", "_detail", "_row", "_src")
ENCODED_COLUMNS = ("input_ids", "labels", "length")
#: rows per map batch
BATCH = 256
#: smaller sets are prepared without progress bars (they take a blink)
PROGRESS_MIN_ROWS = 20_000
#: where intermediate map results go while a cache entry is built (removed once it is saved)
_WORK_DIR: ContextVar[Path | None] = ContextVar("ftcore_data_work_dir", default=None)


def _map_file(fingerprint: str | None) -> str | None:
    work = _WORK_DIR.get()
    return str(work / f"{fingerprint}.arrow") if work is not None and fingerprint else None


# --------------------------------------------------------------------------------------------------
# results


@dataclass
class PreparedData:
    """What ``prepare_data`` returns."""

    #: ``datasets.Dataset`` (eager), a torch ``Dataset`` (lazy) or a ``datasets.IterableDataset`` (streaming)
    train: Any
    validation: Any | None
    report: DataReport
    #: ``{"data": <cache key>, "<source>": <raw fingerprint>, ...}`` for the run's manifest
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: the encoded sets came from the cache (nothing was tokenized)
    cache_hit: bool = False
    cache_dir: str | None = None


@dataclass
class Source:
    """One dataset of the run, resolved to a spec."""

    label: str
    spec: DatasetSpec
    sample: int | None = None


# --------------------------------------------------------------------------------------------------
# resolving the run's dataset entries


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((BUILTIN_PREFIX, ".", "/", "~"))
        or os.sep in text
        or Path(text).suffix.lower() in BUILDERS
    )


def resolve_entry(entry: Any, *, base_dir: str = ".", hub: str = "auto") -> Source:
    """A ``data.datasets`` item (a name, a path, a ``DatasetEntry`` or a dict) → a :class:`Source`."""
    from ftcore.config import DatasetEntry
    from ftcore.registry import get_catalog

    if isinstance(entry, Mapping):
        entry = DatasetEntry.model_validate(dict(entry))
    if isinstance(entry, str):
        if entry in get_catalog().datasets or not _looks_like_path(entry):
            return Source(entry, get_catalog().datasets.get(entry))
        entry = DatasetEntry(path=entry)
    split = entry.split or "train"
    train = [f"{entry.subset}:{split}" if entry.subset else split] if (entry.subset or entry.split) else None
    if entry.name:
        spec = dataclasses.replace(get_catalog().datasets.get(entry.name))
        if train:
            spec.train = train
        if entry.columns:
            spec.columns = {**spec.columns, **entry.columns}
        label = entry.name
    elif entry.path:
        path = entry.path
        if not path.startswith(BUILTIN_PREFIX):
            p = Path(os.path.expanduser(path))
            path = str(p if p.is_absolute() else Path(base_dir) / p)
        spec = DatasetSpec(name="local", path=path, columns=dict(entry.columns), train=train or ["train"])
        label = entry.path
    else:
        assert entry.repo is not None
        hubs = {"huggingface": entry.repo, "modelscope": entry.repo} if hub == "auto" else {hub: entry.repo}
        spec = DatasetSpec(name="hub", hub=hubs, columns=dict(entry.columns), train=train or ["train"])
        label = entry.repo
    return Source(label, spec, entry.sample)


def load_source(source: Source, data: Any, *, streaming: bool = False) -> tuple[Any, Any]:
    """Raw (train, validation-or-None) of one source through the ``load_dataset`` hook."""
    from ftcore.plugins import get_plugin_manager

    sample = source.sample if source.sample is not None else source.spec.sample
    options = DatasetOptions(hub=data.hub, sample=sample, seed=data.seed, streaming=streaming)
    out = get_plugin_manager().hook.load_dataset(spec=source.spec, options=options)
    if out is None:
        raise FtcoreError(f"dataset {source.label!r}: no plugin could load it")
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


# --------------------------------------------------------------------------------------------------
# normalization


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
            return normalize_row(row, columns), None, None
        result = preprocess(rename_columns(row, columns))
        if result is None:
            return None, DROPPED, None
        return check_normalized(result), None, None
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


def _normalize_batch(batch: dict[str, list[Any]], indices: list[int], *, columns: Mapping[str, str] | None,
                     preprocess: Any, src: int, row_ids: Sequence[int] | None = None,
                     image_base: str | None = None) -> dict[str, list[Any]]:
    keys = list(batch)
    if row_ids is not None:  # a selection: report the rows' numbers in the source, not in the selection
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


@contextmanager
def progress_bars(rows: int) -> Iterator[None]:
    """The datasets library's progress bars, for long work only."""
    import datasets

    if rows >= PROGRESS_MIN_ROWS or datasets.are_progress_bars_disabled():
        yield
        return
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.enable_progress_bars()


def _num_proc(ds: Any, num_proc: int) -> int | None:
    return num_proc if num_proc > 1 and len(ds) >= 256 * num_proc else None


def _fp(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def normalize_dataset(ds: Any, source: Source, src: int, *, num_proc: int = 1, fingerprint: str | None = None
                      ) -> Any:
    """Raw rows → ``messages`` / ``images`` plus the internal ``_error`` / ``_detail`` / ``_row`` / ``_src``."""
    indices = getattr(ds, "_indices", None)
    row_ids = indices.column(0).to_pylist() if indices is not None else None
    fn = partial(_normalize_batch, columns=source.spec.columns or None, preprocess=source.spec.preprocess, src=src,
                 row_ids=row_ids, image_base=image_base_dir(source.spec))
    if not hasattr(ds, "__len__"):  # streaming
        return ds.map(fn, batched=True, batch_size=BATCH, with_indices=True, features=normalized_features(),
                      remove_columns=ds.column_names).select_columns(list(normalized_features()))
    missing = [c for c in (source.spec.columns or {}) if c not in ds.column_names]
    if missing and source.spec.preprocess is None and JSON_COLUMN not in ds.column_names:
        raise FtcoreError(
            f"data: {source.label}: column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"of the column mapping not found (the columns are: {', '.join(ds.column_names)})"
        )
    with progress_bars(len(ds)):
        return ds.map(
            fn, batched=True, batch_size=BATCH, with_indices=True, features=normalized_features(),
            remove_columns=ds.column_names, num_proc=_num_proc(ds, num_proc), load_from_cache_file=False,
            new_fingerprint=fingerprint or uuid.uuid4().hex, cache_file_name=_map_file(fingerprint),
            desc=f"ftcore: reading {source.label}",
        )


def collect_bad_rows(ds: Any, labels: Sequence[str], part: str, report: DataReport, *, strict: bool) -> Any:
    """Count ``_error`` rows into ``report`` (per source), raise on the first one when ``strict``, and return
    the usable rows without the ``_error`` / ``_detail`` columns."""
    table = ds.data if ds._indices is None else ds.flatten_indices().data
    errors = table.column("_error").to_pylist()
    srcs = table.column("_src").to_pylist()
    rows = table.column("_row").to_pylist()
    for s in set(srcs):
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


# --------------------------------------------------------------------------------------------------
# splitting and mixing


def split_off(ds: Any, ratio: float, seed: int) -> tuple[Any, Any]:
    """A seeded validation split: ``ceil(len × ratio)`` random rows (at least 1, never all); both parts keep
    the source order."""
    n = len(ds)
    k = min(max(math.ceil(n * ratio), 1), n - 1)
    if ratio <= 0 or k <= 0:
        return ds, None
    val_idx = set(random.Random(seed).sample(range(n), k))
    return ds.select([i for i in range(n) if i not in val_idx]), ds.select(sorted(val_idx))


def _concat(parts: list[Any]) -> Any:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    from datasets import concatenate_datasets

    return concatenate_datasets(parts)


def _validation_cap(data: Any, n_train: int) -> int | None:
    """The seed's rule: with ``sample`` set, validation keeps at most ``max(int(n × test_ratio), 1)`` rows."""
    if data.sample > 0 and data.test_ratio > 0:
        return max(int(min(data.sample, n_train) * data.test_ratio), 1)
    return None


@dataclass
class _Loaded:
    sources: list[Source]
    parts: list[str]
    raw: list[tuple[Any, Any]]


def _load_all(data: Any, base_dir: str, *, streaming: bool = False) -> _Loaded:
    if not data.datasets:
        raise FtcoreError("data.datasets: no dataset given (names from `ftcore datasets`, or {path = ...})")
    sources, parts, raw = [], [], []
    for entry in data.datasets:
        src = resolve_entry(entry, base_dir=base_dir, hub=data.hub)
        sources.append(src)
        parts.append("train")
        raw.append(load_source(src, data, streaming=streaming))
    for entry in data.validation:
        src = resolve_entry(entry, base_dir=base_dir, hub=data.hub)
        sources.append(src)
        parts.append("validation")
        train, val = load_source(src, data, streaming=streaming)
        raw.append((val if val is not None else train, None))
    return _Loaded(sources, parts, raw)


def _draw(parts: list[tuple[int, Source, Any]], n: int, data: Any, labels: Sequence[str], report: DataReport,
          key: str | None) -> tuple[Any, set[str]]:
    """``n`` usable rows drawn at random (seeded) from several raw sets, normalizing only the rows drawn (plus a
    margin for bad ones; more are drawn while some are missing). Returns the rows and the labels of sources
    that were not read whole."""
    import numpy as np

    sizes = [len(raw) for _, _, raw in parts]
    offsets = np.cumsum([0, *sizes])
    total = int(offsets[-1])
    perm = np.random.default_rng(data.seed).permutation(total)
    pos, usable, pieces, rounds = 0, 0, [], 0
    while usable < n and pos < total:
        take = perm[pos: pos + math.ceil((n - usable) * 1.05) + 64]
        pos += len(take)
        for k, (i, src, raw) in enumerate(parts):
            mine = np.sort(take[(take >= offsets[k]) & (take < offsets[k + 1])] - offsets[k])
            if len(mine) == 0:
                continue
            fp = _fp(key, "normalize-draw", i, rounds) if key else None
            norm = normalize_dataset(raw.select(mine.tolist()), src, i, num_proc=data.num_proc, fingerprint=fp)
            piece = collect_bad_rows(norm, labels, "train", report, strict=data.strict)
            usable += len(piece)
            pieces.append(piece)
        rounds += 1
    seen = np.zeros(total, dtype=bool)
    seen[perm[:pos]] = True
    partial_sources = {parts[k][1].label for k in range(len(parts))
                       if not seen[offsets[k]:offsets[k + 1]].all()}
    train = _concat(pieces)
    if train is not None and len(train) > n:
        train = sample_rows(train, n, data.seed)
    return train, partial_sources


def _normalize_all(loaded: _Loaded, data: Any, report: DataReport, key: str | None) -> tuple[Any, Any]:
    """Normalized, filtered, split, mixed and sampled (train, validation).

    The validation split is taken from the raw rows; with ``data.sample`` smaller than the raw training rows,
    only the drawn rows are normalized (see :func:`_draw`)."""
    labels = [s.label for s in loaded.sources]
    explicit_val = "validation" in loaded.parts
    raw_trains: list[tuple[int, Source, Any]] = []
    vals = []

    def norm(ds: Any, src: Source, i: int, part: str, tag: str) -> Any:
        fp = _fp(key, tag, i) if key else None
        return collect_bad_rows(normalize_dataset(ds, src, i, num_proc=data.num_proc, fingerprint=fp),
                                labels, part, report, strict=data.strict)

    for i, (src, part, (train, val)) in enumerate(zip(loaded.sources, loaded.parts, loaded.raw, strict=True)):
        if len(train) == 0 and part == "train":
            raise FtcoreError(f"data: {src.label}: the dataset is empty")
        if part == "validation":
            vals.append(norm(train, src, i, "validation", "normalize"))
            continue
        if val is not None and not explicit_val:
            vals.append(norm(val, src, i, "validation", "normalize-val"))
        elif not explicit_val and data.test_ratio > 0 and len(train) > 1:
            train, val_raw = split_off(train, data.test_ratio, data.seed + i)
            vals.append(norm(val_raw, src, i, "validation", "normalize-split"))
        raw_trains.append((i, src, train))
    total = sum(len(raw) for _, _, raw in raw_trains)
    partial_sources: set[str] = set()
    if 0 < data.sample < total:
        train, partial_sources = _draw(raw_trains, data.sample, data, labels, report, key)
    else:
        train = _concat([norm(raw, src, i, "train", "normalize") for i, src, raw in raw_trains])
    report.partial |= partial_sources
    report.check_usable()
    val = _concat(vals)
    cap = _validation_cap(data, len(train))
    if val is not None and cap is not None:
        val = sample_rows(val, cap, data.seed + 1)
    return train, val


def _public(ds: Any) -> Any:
    if ds is None:
        return None
    return ds.remove_columns([c for c in ds.column_names if c in INTERNAL])


def get_dataset(names: str | Sequence[Any], test_ratio: float = 0.01, seed: int = 42, sample: int = -1,
                *, strict: bool = False, num_proc: int = 1, base_dir: str = ".") -> tuple[Any, Any]:
    """(train, validation) of normalized rows (``messages``, ``images``) for registered dataset names, local
    paths or ``{"path": ..., "columns": {...}}`` entries — the seed's ``get_dataset``. Validation is the
    datasets' own validation splits, else ``test_ratio`` of each dataset (None when 0)."""
    from ftcore.config import DataConfig

    data = DataConfig(datasets=[names] if isinstance(names, (str, Mapping)) else list(names),
                      test_ratio=test_ratio, seed=seed, sample=sample, strict=strict, num_proc=num_proc)
    report = DataReport()
    train, val = _normalize_all(_load_all(data, base_dir), data, report, None)
    report.log()
    return _public(train), _public(val)


# --------------------------------------------------------------------------------------------------
# encoding


def _skip_types() -> tuple[type[BaseException], ...]:
    try:
        from ftcore.templates import SkipSample
    except ImportError:  # pragma: no cover - templates not installed
        return (BadRow,)
    return (SkipSample, BadRow)


def encoded_features(extra: Mapping[str, Any] | None = None) -> Any:
    """The encoded columns, plus ``extra`` ones a template returns (name → datasets feature, see
    :func:`extra_features`)."""
    from datasets import Features, List, Value

    return Features({
        "input_ids": List(Value("int32")),
        "labels": List(Value("int32")),
        "length": Value("int32"),
        **dict(extra or {}),
        "_error": Value("string"),
        "_detail": Value("string"),
    })


#: the pixel inputs of multimodal templates, typed as the models want them
MULTIMODAL_FEATURES = {"pixel_values": ("float32", 2), "image_grid_thw": ("int64", 2)}


def _feature_of(value: Any) -> Any:
    """A datasets feature for one encoded value: nested lists of ints (int64) / floats (float32) / bools."""
    from datasets import List, Value

    depth, leaf = 0, value
    while isinstance(leaf, (list, tuple)):
        depth += 1
        if not leaf:
            break
        leaf = leaf[0]
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):  # a tensor / array
        return _feature_of(value.tolist())
    kind = "bool" if isinstance(leaf, bool) else "int64" if isinstance(leaf, int) else \
        "float32" if isinstance(leaf, float) else "string"
    feature: Any = Value(kind)
    for _ in range(max(depth, 0)):
        feature = List(feature)
    return feature


def extra_features(template: Any, ds: Any) -> dict[str, Any]:
    """The extra columns the template returns beside ``input_ids`` / ``labels`` (e.g. ``pixel_values``,
    ``image_grid_thw``), found by encoding the first row with images; {} when no row has images."""
    from datasets import List, Value

    if "images" not in getattr(ds, "column_names", ()) or len(ds) == 0:
        return {}
    import pyarrow.compute as pc

    table = ds.data if ds._indices is None else ds.flatten_indices().data
    counts = pc.fill_null(pc.list_value_length(table.column("images")), 0).to_pylist()
    first = next((i for i, n in enumerate(counts) if n), None)
    if first is None:
        return {}
    known: dict[str, Any] = {}
    for name, (kind, depth) in MULTIMODAL_FEATURES.items():
        feature: Any = Value(kind)
        for _ in range(depth):
            feature = List(feature)
        known[name] = feature
    for i in [first, *(i for i, n in enumerate(counts[first + 1:], first + 1) if n)][:8]:
        enc = encode_rows(template, [table.column("messages")[i].as_py()], [table.column("images")[i].as_py()])[0]
        if isinstance(enc, BaseException):
            continue  # a skipped row says nothing; try the next one with images
        out = {key: known.get(key) or _feature_of(value) for key, value in enc.items()
               if key not in ("input_ids", "labels", "length")}
        if not out and not getattr(template, "takes_images", False):  # Qwen-VL: images in the text
            name = getattr(getattr(template, "spec", None), "name", type(template).__name__)
            log.warning("data: template %r takes no images; the rows' images are ignored (a multimodal template "
                        "such as qwen2-vl uses them, see docs/multimodal.md)", name)
        return out
    return known  # every probed row was skipped: keep the usual pixel inputs


def encode_rows(template: Any, messages: list[Any], images: list[Any]) -> list[Any]:
    """Each conversation encoded, or the exception that skips it (SkipSample / BadRow)."""
    skip = _skip_types()
    batch = getattr(template, "encode_batch", None)
    if callable(batch) and not any(images):
        return list(batch(messages))
    out: list[Any] = []
    for msgs, imgs in zip(messages, images, strict=True):
        try:
            out.append(template.encode(msgs, imgs or None))
        except skip as exc:
            out.append(exc)
    return out


def _encode_batch(batch: dict[str, list[Any]], *, template: Any, extra: Sequence[str] = ()) -> dict[str, list[Any]]:
    """``extra``: the template's other outputs to keep (pixel inputs); a row without one gets an empty list."""
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "length": [], "_error": [], "_detail": []}
    for key in extra:
        out[key] = []
    for enc in encode_rows(template, batch["messages"], batch["images"]):
        if isinstance(enc, BaseException):
            for key in extra:
                out[key].append([])
            out["input_ids"].append([])
            out["labels"].append([])
            out["length"].append(0)
            out["_error"].append(getattr(enc, "reason", None) or type(enc).__name__)
            detail = getattr(enc, "detail", None)
            out["_detail"].append(str(detail) if detail else None)
        else:
            for key in extra:
                value = enc.get(key)
                out[key].append([] if value is None else value.tolist() if hasattr(value, "tolist") else value)
            out["input_ids"].append(enc["input_ids"])
            out["labels"].append(enc["labels"])
            out["length"].append(len(enc["input_ids"]))
            out["_error"].append(None)
            out["_detail"].append(None)
    return out


def encode_dataset(ds: Any, template: Any, labels: Sequence[str], part: str, report: DataReport, *,
                   num_proc: int = 1, strict: bool = False, fingerprint: str | None = None) -> Any:
    """Normalized rows → ``input_ids`` / ``labels`` / ``length``; skipped samples are counted in ``report``."""
    extra = extra_features(template, ds)
    fn = partial(_encode_batch, template=template, extra=tuple(extra))
    features = encoded_features(extra)
    features["_row"] = normalized_features()["_row"]
    features["_src"] = normalized_features()["_src"]
    with progress_bars(len(ds)):
        enc = ds.map(
            fn, batched=True, batch_size=BATCH, remove_columns=["messages", "images"], features=features,
            num_proc=_num_proc(ds, num_proc), load_from_cache_file=False,
            new_fingerprint=fingerprint or uuid.uuid4().hex, cache_file_name=_map_file(fingerprint),
            desc=f"ftcore: tokenizing {part}",
        )
    table = enc.data
    errors = table.column("_error").to_pylist()
    if any(e is not None for e in errors):
        srcs = table.column("_src").to_pylist()
        rows = table.column("_row").to_pylist()
        keep = []
        for i, reason in enumerate(errors):
            if reason is None:
                keep.append(i)
                continue
            if strict:
                raise strict_error(labels[srcs[i]], rows[i], reason, table.column("_detail")[i].as_py())
            report.source(labels[srcs[i]], part).add(reason, rows[i])
        enc = enc.select(keep)
    return enc.remove_columns(list(INTERNAL))


# --------------------------------------------------------------------------------------------------
# fingerprints and the cache


def cache_root(cfg: Any) -> Path:
    """``data.cache_dir``, else ``$FTCORE_CACHE``, else ``~/.cache/ftcore`` — plus ``/data``."""
    if cfg.data.cache_dir:
        return Path(cfg.resolve_path(cfg.data.cache_dir))
    return Path(os.path.expanduser(os.environ.get("FTCORE_CACHE") or "~/.cache/ftcore")) / "data"


def _code_hash(fn: Any) -> str | None:
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "func", None), "__code__", None)
    if code is None:
        return None
    return hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:16]


def _set_fields(spec: Any) -> dict[str, Any]:
    """A spec's fields that differ from their defaults (a field added to the class later changes no key)."""
    out = {}
    full = spec_to_dict(spec)
    for f in dataclasses.fields(spec):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if getattr(spec, f.name) != default:
            out[f.name] = full[f.name]
    return out


def spec_fingerprint(spec: DatasetSpec) -> str:
    d = _set_fields(spec)
    d["preprocess_code"] = _code_hash(spec.preprocess)
    d["get_code"] = _code_hash(spec.get)
    d.pop("description", None)
    return _fp(d)


def template_fingerprint(template: Any) -> str:
    """The template's own ``fingerprint()`` if it has one, else its spec and settings."""
    own = getattr(template, "fingerprint", None)
    if callable(own):
        return str(own())
    spec = getattr(template, "spec", None)
    d = {
        "class": f"{type(template).__module__}.{type(template).__qualname__}",
        "spec": _set_fields(spec) if dataclasses.is_dataclass(spec) else repr(spec),
        "settings": {k: getattr(template, k, None)
                     for k in ("system", "max_length", "truncation", "loss_on", "train_on_prompt")},
    }
    return _fp(d)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Vocabulary, merges, normalizer and special tokens (the fast tokenizer's JSON), plus the chat template."""
    if tokenizer is None:
        return "none"
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    h = hashlib.sha256(f"{type(tok).__module__}.{type(tok).__qualname__}".encode())
    backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tok.get_vocab().items())).encode())
    extra = {
        "special": getattr(tok, "special_tokens_map", None),
        "chat_template": getattr(tok, "chat_template", None),
        "add_bos": getattr(tok, "add_bos_token", None),
        "add_eos": getattr(tok, "add_eos_token", None),
        "pad": getattr(tok, "pad_token_id", None),
    }
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def cache_key(loaded: _Loaded, data: Any, template: Any, tokenizer: Any) -> str | None:
    """One key for everything that decides the encoded sets; None when a source has no stable fingerprint."""
    from ftcore import __version__

    sources = []
    for src, part, (train, val) in zip(loaded.sources, loaded.parts, loaded.raw, strict=True):
        fps = [getattr(x, "_fingerprint", None) for x in (train, val) if x is not None]
        if not fps or any(f is None for f in fps) or not all(hasattr(x, "__len__") for x in (train, val)
                                                                 if x is not None):
            return None
        sources.append({"label": src.label, "part": part, "spec": spec_fingerprint(src.spec), "sample": src.sample,
                        "raw": fps})
    settings = {k: getattr(data, k) for k in ("test_ratio", "sample", "seed", "strict", "hub")}
    return _fp(CACHE_VERSION, __version__, sources, settings, template_fingerprint(template),
               tokenizer_fingerprint(tokenizer))[:20]


def _load_cached(folder: Path) -> tuple[Any, Any, DataReport] | None:
    from datasets import load_from_disk

    if not (folder / "report.json").is_file():
        return None
    try:
        train = load_from_disk(str(folder / "train"))
        val = load_from_disk(str(folder / "validation")) if (folder / "validation").is_dir() else None
        report = DataReport.from_dict(json.loads((folder / "report.json").read_text()))
    except Exception as exc:  # noqa: BLE001 - a damaged entry is rebuilt
        log.warning("data: cache entry %s unreadable (%s); rebuilding it", folder, exc)
        return None
    return train, val, report


def _save_cached(folder: Path, train: Any, val: Any, report: DataReport, meta: dict[str, Any]) -> None:
    """Written under a temporary name and renamed, so a killed run never leaves a half entry."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        with progress_bars(len(train)):
            train.save_to_disk(str(tmp / "train"))
            if val is not None:
                val.save_to_disk(str(tmp / "validation"))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        (tmp / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("data: could not write the cache entry %s (%s)", folder, exc)


# --------------------------------------------------------------------------------------------------
# prepare_data


def _log_stats(name: str, ds: Any) -> None:
    if ds is None or not hasattr(ds, "data") or "length" not in ds.column_names or len(ds) == 0:
        return
    lengths = ds["length"]
    lengths = list(lengths) if not isinstance(lengths, list) else lengths
    mean = sum(lengths) / len(lengths)
    log.info("data: %s: %d samples, tokens mean %.1f, min %d, max %d", name, len(lengths), mean, min(lengths),
             max(lengths))


def prepare_data(cfg: Any, template: Any, tokenizer: Any = None) -> PreparedData:
    """The run's training and validation sets, encoded with ``template``.

    :param cfg: the RunConfig (its ``data`` section decides sources, split, sample, mode and cache).
    :param template: a :class:`ftcore.templates.Template` (anything with ``encode(messages, images)``).
    :param tokenizer: the template's tokenizer (part of the cache key); default ``template.tokenizer``.
    """
    data = cfg.data
    tokenizer = tokenizer if tokenizer is not None else getattr(template, "tokenizer", None)
    if data.streaming:
        from ftcore.data.streaming import prepare_streaming

        return prepare_streaming(cfg, template)
    loaded = _load_all(data, cfg.base_dir)
    key = None if data.lazy else cache_key(loaded, data, template, tokenizer)
    fingerprints = {f"{s.label} [{p}]" if p != "train" else s.label: str(getattr(r[0], "_fingerprint", ""))
                    for s, p, r in zip(loaded.sources, loaded.parts, loaded.raw, strict=True)}
    folder = cache_root(cfg) / key if key else None
    if folder is not None:
        fingerprints["data"] = key  # type: ignore[assignment]
        cached = _load_cached(folder)
        if cached is not None:
            train, val, report = cached
            log.info("data: using the tokenized cache %s (delete it to re-tokenize)", folder)
            report.log()
            return PreparedData(train, val, report, fingerprints, cache_hit=True, cache_dir=str(folder))
    work = None
    if folder is not None:
        work = folder.with_name(f"{folder.name}.work-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        work.mkdir(parents=True, exist_ok=True)
    token = _WORK_DIR.set(work)
    try:
        return _prepare_eager(cfg, template, loaded, key, folder, fingerprints, work)
    finally:
        _WORK_DIR.reset(token)


def _prepare_eager(cfg: Any, template: Any, loaded: _Loaded, key: str | None, folder: Path | None,
                   fingerprints: dict[str, str], work: Path | None) -> PreparedData:
    data = cfg.data
    report = DataReport()
    try:
        train, val = _normalize_all(loaded, data, report, key)
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    labels = [s.label for s in loaded.sources]
    if data.lazy:
        from ftcore.data.lazy import LazyEncodedDataset

        report.log()
        return PreparedData(LazyEncodedDataset(train, template, labels, report),
                            LazyEncodedDataset(val, template, labels, report, part="validation")
                            if val is not None and len(val) else None,
                            report, fingerprints)
    train = encode_dataset(train, template, labels, "train", report, num_proc=data.num_proc, strict=data.strict,
                           fingerprint=_fp(key, "encode-train") if key else None)
    if val is not None:
        val = encode_dataset(val, template, labels, "validation", report, num_proc=data.num_proc,
                             strict=data.strict, fingerprint=_fp(key, "encode-val") if key else None)
        if len(val) == 0:
            val = None
    try:
        report.check_usable()
        if len(train) == 0:
            raise FtcoreError(f"data: no usable training rows in {', '.join(labels)}")
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    report.log()
    _log_stats("train", train)
    _log_stats("validation", val)
    if folder is not None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _save_cached(folder, train, val, report, {"key": key, "sources": fingerprints})
        cached = _load_cached(folder)  # serve from the cache files (memory-mapped, independent of the work files)
        if cached is not None:
            train, val, _ = cached
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
    return PreparedData(train, val, report, fingerprints, cache_dir=str(folder) if folder else None)

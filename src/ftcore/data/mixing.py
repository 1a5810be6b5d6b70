"""Splitting, mixing and sampling normalized rows: the run's (train, validation) before encoding.

The validation split is taken from the raw rows; with ``data.sample`` smaller than the raw training rows only the
drawn rows are normalized (:func:`draw_rows`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from ftcore.data.loading import sample_rows, with_row_numbers
from ftcore.data.maps import fingerprint_of
from ftcore.data.normalize import collect_bad_rows, normalize_dataset
from ftcore.data.report import DataReport
from ftcore.data.sources import LoadedSources, Source
from ftcore.errors import FtcoreError


def split_off(ds: Any, ratio: float, seed: int) -> tuple[Any, Any]:
    """A seeded validation split: ``ceil(len × ratio)`` random rows (at least 1, never all); both parts keep
    the source order."""
    n = len(ds)
    k = min(max(math.ceil(n * ratio), 1), n - 1)
    if ratio <= 0 or k <= 0:
        return ds, None
    val_idx = set(random.Random(seed).sample(range(n), k))
    return ds.select([i for i in range(n) if i not in val_idx]), ds.select(sorted(val_idx))


def refill_validation(train: Any, missing: int, src: Source, i: int, data: Any) -> tuple[Any, Any]:
    """``missing`` usable rows of ``train`` (seeded order), normalized, and ``train`` without them; at least one
    usable training row always stays. Returns (train, moved rows normalized, or None)."""
    n = len(train)
    order = random.Random(data.seed + i + 1).sample(range(n), n)
    found: list[int] = []
    pos = 0
    while len(found) <= missing and pos < n:
        take = sorted(order[pos: pos + max(4 * (missing + 1), 64)])
        pos += len(take)
        errors = normalize_dataset(train.select(take), src, i).data.column("_error").to_pylist()
        found.extend(t for t, e in zip(take, errors, strict=True) if e is None)
    moved = sorted(found[: min(missing, len(found) - 1)])
    if not moved:
        return train, None
    extra = normalize_dataset(train.select(moved), src, i)
    gone = set(moved)
    return train.select([j for j in range(n) if j not in gone]), extra


def concat_datasets(parts: list[Any]) -> Any:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    from datasets import concatenate_datasets

    return concatenate_datasets(parts)


def validation_cap(data: Any, n_train: int) -> int | None:
    """ms-swift's rule: with ``sample`` set, validation keeps at most ``max(int(n × test_ratio), 1)`` rows."""
    if data.sample > 0 and data.test_ratio > 0:
        return max(int(min(data.sample, n_train) * data.test_ratio), 1)
    return None


def draw_rows(parts: list[tuple[int, Source, Any]], n: int, data: Any, labels: Sequence[str], report: DataReport,
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
            fp = fingerprint_of(key, "normalize-draw", i, rounds) if key else None
            norm = normalize_dataset(raw.select(mine.tolist()), src, i, num_proc=data.num_proc, fingerprint=fp)
            piece = collect_bad_rows(norm, labels, "train", report, strict=data.strict)
            usable += len(piece)
            pieces.append(piece)
        rounds += 1
    seen = np.zeros(total, dtype=bool)
    seen[perm[:pos]] = True
    partial_sources = {parts[k][1].label for k in range(len(parts))
                       if not seen[offsets[k]:offsets[k + 1]].all()}
    train = concat_datasets(pieces)
    if train is not None and len(train) > n:
        train = sample_rows(train, n, data.seed, number=False)
    return train, partial_sources


def normalize_sources(loaded: LoadedSources, data: Any, report: DataReport, key: str | None) -> tuple[Any, Any]:
    """Normalized, filtered, split, mixed and sampled (train, validation).

    The validation split is taken from the raw rows; with ``data.sample`` smaller than the raw training rows,
    only the drawn rows are normalized (see :func:`draw_rows`)."""
    labels = [s.label for s in loaded.sources]
    explicit_val = "validation" in loaded.parts
    raw_trains: list[tuple[int, Source, Any]] = []
    vals: dict[int, Any] = {}
    split: set[int] = set()

    def norm(ds: Any, src: Source, i: int, part: str, tag: str) -> Any:
        fp = fingerprint_of(key, tag, i) if key else None
        return collect_bad_rows(normalize_dataset(ds, src, i, num_proc=data.num_proc, fingerprint=fp),
                                labels, part, report, strict=data.strict)

    for i, (src, part, (train, val)) in enumerate(zip(loaded.sources, loaded.parts, loaded.raw, strict=True)):
        if len(train) == 0 and part == "train":
            raise FtcoreError(f"data: {src.label}: the dataset is empty (no rows); give a file with rows")
        if part == "validation":
            vals[i] = norm(train, src, i, "validation", "normalize")
            continue
        train = with_row_numbers(train)  # the report names rows as the source numbers them, whatever is drawn
        report.source(src.label, "train").file_rows = len(train)
        if val is not None and not explicit_val:
            vals[i] = norm(val, src, i, "validation", "normalize-val")
        elif not explicit_val and data.test_ratio > 0 and len(train) > 1:
            train, val_raw = split_off(train, data.test_ratio, data.seed + i)
            val_ok = norm(val_raw, src, i, "validation", "normalize-split")
            missing = len(val_raw) - len(val_ok)
            if missing:  # bad rows never empty the split: usable training rows take their place
                train, extra = refill_validation(train, missing, src, i, data)
                if extra is not None:
                    extra = collect_bad_rows(extra, labels, "validation", report, strict=data.strict)
                    report.source(src.label, "validation").refilled += len(extra)
                    val_ok = concat_datasets([val_ok, extra])
            vals[i] = val_ok
            split.add(i)
        raw_trains.append((i, src, train))
    total = sum(len(raw) for _, _, raw in raw_trains)
    partial_sources: set[str] = set()
    if 0 < data.sample < total:
        train, partial_sources = draw_rows(raw_trains, data.sample, data, labels, report, key)
    else:
        trains = []
        for i, src, raw in raw_trains:
            ok = norm(raw, src, i, "train", "normalize")
            if len(ok) == 0 and i in split and len(vals[i]):  # a tiny source: its split rows train instead
                moved = vals.pop(i)
                report.source(src.label, "train").rows += len(moved)
                report.source(src.label, "validation").rows -= len(moved)
                ok = moved
            trains.append(ok)
        train = concat_datasets(trains)
    report.partial |= partial_sources
    report.check_usable()
    val = concat_datasets(list(vals.values()))
    cap = validation_cap(data, len(train))
    if val is not None and cap is not None:
        val = sample_rows(val, cap, data.seed + 1, number=False)
    return train, val

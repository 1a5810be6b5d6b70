"""Eager mode (the default): every sample encoded ahead of training, batched with ``data.num_proc`` processes,
and cached under ``<cache>/data/<key>/`` (see :mod:`ftcore.data.cache`)."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ftcore.data.cache import cache_key, cache_root, load_cached, save_cached
from ftcore.data.encode import encode_dataset
from ftcore.data.maps import fingerprint_of, work_dir
from ftcore.data.mixing import normalize_sources
from ftcore.data.report import DataReport, PreparedData
from ftcore.data.sources import LoadedSources, load_sources
from ftcore.errors import FtcoreError

log = logging.getLogger("ftcore.data")


def _log_stats(name: str, ds: Any) -> None:
    if ds is None or not hasattr(ds, "data") or "length" not in ds.column_names or len(ds) == 0:
        return
    lengths = ds["length"]
    lengths = list(lengths) if not isinstance(lengths, list) else lengths
    mean = sum(lengths) / len(lengths)
    log.info("data: %s: %d samples, tokens mean %.1f, min %d, max %d", name, len(lengths), mean, min(lengths),
             max(lengths))


def prepare_eager(cfg: Any, template: Any, tokenizer: Any = None) -> PreparedData:
    """The run's encoded (train, validation), from the cache when an entry for the same inputs exists."""
    data = cfg.data
    loaded = load_sources(data, cfg.base_dir)
    key = cache_key(loaded, data, template, tokenizer)
    fingerprints = loaded.fingerprints()
    folder = cache_root(cfg) / key if key else None
    if folder is not None:
        fingerprints["data"] = key  # type: ignore[assignment]
        cached = load_cached(folder)
        if cached is not None:
            train, val, report = cached
            log.info("data: using the tokenized cache %s (delete it to re-tokenize)", folder)
            report.log()
            return PreparedData(train, val, report, fingerprints, cache_hit=True, cache_dir=str(folder))
    work = None
    if folder is not None:
        work = folder.with_name(f"{folder.name}.work-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        work.mkdir(parents=True, exist_ok=True)
    with work_dir(work):
        return _encode_and_cache(cfg, template, loaded, key, folder, fingerprints, work)


def _encode_and_cache(cfg: Any, template: Any, loaded: LoadedSources, key: str | None, folder: Path | None,
                      fingerprints: dict[str, str], work: Path | None) -> PreparedData:
    data = cfg.data
    report = DataReport()
    try:
        train, val = normalize_sources(loaded, data, report, key)
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    labels = loaded.labels
    train = encode_dataset(train, template, labels, "train", report, num_proc=data.num_proc, strict=data.strict,
                           fingerprint=fingerprint_of(key, "encode-train") if key else None)
    if val is not None:
        val = encode_dataset(val, template, labels, "validation", report, num_proc=data.num_proc,
                             strict=data.strict, fingerprint=fingerprint_of(key, "encode-val") if key else None)
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
        save_cached(folder, train, val, report, {"key": key, "sources": fingerprints})
        cached = load_cached(folder)  # serve from the cache files (memory-mapped, independent of the work files)
        if cached is not None:
            train, val, _ = cached
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
    return PreparedData(train, val, report, fingerprints, cache_dir=str(folder) if folder else None)

"""Eager mode (the default): every sample encoded ahead of training, batched with ``data.num_proc`` processes,
and cached under ``<cache>/data/<key>/`` (see :mod:`ftcore.data.cache`)."""

from __future__ import annotations

import logging
from typing import Any

from ftcore.data.cache import cache_key, prepare_cached
from ftcore.data.encode import encode_dataset
from ftcore.data.maps import fingerprint_of
from ftcore.data.mixing import normalize_sources
from ftcore.data.report import DataReport, PreparedData
from ftcore.data.sources import load_sources
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

    def encode() -> tuple[Any, Any, DataReport]:
        report = DataReport()
        train, val = normalize_sources(loaded, data, report, key)
        labels = loaded.labels
        train = encode_dataset(train, template, labels, "train", report, num_proc=data.num_proc,
                               strict=data.strict, fingerprint=fingerprint_of(key, "encode-train") if key else None)
        if val is not None:
            val = encode_dataset(val, template, labels, "validation", report, num_proc=data.num_proc,
                                 strict=data.strict, fingerprint=fingerprint_of(key, "encode-val") if key else None)
            if len(val) == 0:
                val = None
        report.check_usable()
        if len(train) == 0:
            raise FtcoreError(f"data: no usable training rows in {', '.join(labels)}")
        report.log()
        _log_stats("train", train)
        _log_stats("validation", val)
        return train, val, report

    return prepare_cached(cfg, loaded, key, encode)

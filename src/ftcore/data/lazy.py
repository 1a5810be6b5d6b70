"""Lazy mode (``data.lazy = true``): samples are encoded when the trainer asks for them, not ahead of time.

The rows are still read and normalized up front (cheap, and bad rows are reported before training starts);
only the template encoding — the expensive part — is deferred. A sample the template skips (``too long`` …)
is replaced by the next usable one and counted in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ftcore.data.encode import encode_rows
from ftcore.data.mixing import normalize_sources
from ftcore.data.report import DataReport, PreparedData
from ftcore.data.sources import load_sources
from ftcore.errors import FtcoreError


class LazyEncodedDataset(torch.utils.data.Dataset):
    """A map-style torch dataset over normalized rows that encodes ``rows[i]`` on access."""

    def __init__(self, rows: Any, template: Any, labels: Sequence[str] = (), report: DataReport | None = None,
                 *, part: str = "train"):
        self.rows = rows
        self.template = template
        self.labels = list(labels)
        self.report = report
        self.part = part
        self._skipped: set[int] = set()

    def __len__(self) -> int:
        return len(self.rows)

    def _encode(self, i: int) -> dict[str, Any] | None:
        row = self.rows[i]
        enc = encode_rows(self.template, [row["messages"]], [row.get("images") or []])[0]
        if isinstance(enc, BaseException):
            if i not in self._skipped and self.report is not None and self.labels:
                self._skipped.add(i)
                label = self.labels[row["_src"]] if "_src" in row else self.labels[0]
                self.report.source(label, self.part).add(getattr(enc, "reason", type(enc).__name__), row.get("_row"))
            return None
        extra = {k: v for k, v in enc.items() if k not in ("input_ids", "labels", "length")}  # pixel inputs
        return {"input_ids": list(enc["input_ids"]), "labels": list(enc["labels"]),
                "length": len(enc["input_ids"]), **extra}

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        for k in range(n):
            out = self._encode((i + k) % n)
            if out is not None:
                return out
        raise FtcoreError("data: no sample can be encoded (every row was skipped by the template)")


def prepare_lazy(cfg: Any, template: Any) -> PreparedData:
    """The run's rows normalized now and encoded on access (no cache: nothing is tokenized ahead)."""
    data = cfg.data
    loaded = load_sources(data, cfg.base_dir)
    report = DataReport()
    train, val = normalize_sources(loaded, data, report, None)
    labels = loaded.labels
    report.log()
    return PreparedData(LazyEncodedDataset(train, template, labels, report),
                        LazyEncodedDataset(val, template, labels, report, part="validation")
                        if val is not None and len(val) else None,
                        report, loaded.fingerprints())

"""Streaming mode (``data.streaming = true``): the source is read as it is consumed (``IterableDataset``).

Nothing is materialized except the validation set: the first rows of each validation source (or, without
one, the first rows of the training stream, which the training stream then skips). The training stream has
no length, so a run needs ``train.max_steps``. Rows are read in source order (several sources are
interleaved row by row); bad rows are skipped and counted as they stream by (in the process that reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from ftcore.data.encode import ENCODED_COLUMNS, encode_batch, encode_dataset, encoded_features, extra_features
from ftcore.data.formats import DROPPED
from ftcore.data.maps import BATCH
from ftcore.data.normalize import normalize_dataset, normalized_features
from ftcore.data.report import DataReport, PreparedData, strict_error
from ftcore.data.sources import load_sources

#: validation rows held out when nothing else bounds them (no ``data.sample``)
STREAM_VALIDATION_ROWS = 1000
#: training rows read ahead to learn whether the template returns pixel inputs (multimodal rows)
PROBE_ROWS = 256


class _Tally:
    """A batched filter that counts ``_error`` rows into the report (and raises on one when strict)."""

    def __init__(self, report: DataReport, labels: Sequence[str], part: str, strict: bool, count_rows: bool):
        self.report, self.labels, self.part, self.strict, self.count_rows = report, list(labels), part, strict, count_rows
        #: per source, the last row number counted: a stream read again (next epoch) is not counted twice
        self.seen: dict[int, int] = {}

    def __call__(self, batch: dict[str, list[Any]]) -> list[bool]:
        keep = []
        for reason, detail, row, src in zip(batch["_error"], batch["_detail"], batch["_row"], batch["_src"], strict=True):
            if reason is not None and self.strict and reason != DROPPED:
                raise strict_error(self.labels[src], row, reason, detail)
            if row > self.seen.get(src, 0):
                self.seen[src] = row
                source = self.report.source(self.labels[src], self.part)
                if self.count_rows:
                    source.rows += 1
                if reason is not None:
                    source.add(reason, row)
            keep.append(reason is None)
        return keep


def _validation_rows(data: Any) -> int:
    if data.sample > 0 and data.test_ratio > 0:
        return max(int(data.sample * data.test_ratio), 1)
    return STREAM_VALIDATION_ROWS


def _materialize(stream: Any, n: int) -> Any:
    from datasets import Dataset

    rows = list(stream.take(n))
    return Dataset.from_list(rows, features=normalized_features().copy()) if rows else None


def prepare_streaming(cfg: Any, template: Any) -> PreparedData:
    """The run's training stream and its materialized validation set (see the module's docstring)."""
    from datasets import interleave_datasets

    data = cfg.data
    loaded = load_sources(data, cfg.base_dir, streaming=True)
    labels = [s.label for s in loaded.sources]
    report = DataReport()
    explicit_val = "validation" in loaded.parts
    n_val = _validation_rows(data)
    trains, vals = [], []
    for i, (src, part, (train, val)) in enumerate(zip(loaded.sources, loaded.parts, loaded.raw, strict=True)):
        norm = normalize_dataset(train, src, i)
        tally = _Tally(report, labels, part, data.strict, count_rows=True)
        norm = norm.filter(tally, batched=True, batch_size=BATCH)
        if part == "validation":
            vals.append(_materialize(norm, n_val))
            continue
        if val is not None and not explicit_val:
            vnorm = normalize_dataset(val, src, i).filter(
                _Tally(report, labels, "validation", data.strict, count_rows=True), batched=True, batch_size=BATCH)
            vals.append(_materialize(vnorm, n_val))
        trains.append(norm)
    stream = trains[0] if len(trains) == 1 else interleave_datasets(trains, stopping_strategy="all_exhausted")
    if not explicit_val and not any(v is not None for v in vals) and data.test_ratio > 0:
        vals = [_materialize(stream, n_val)]
        stream = stream.skip(n_val)
    if data.sample > 0:
        stream = stream.take(data.sample)
    # the template's pixel inputs (multimodal): found on the first rows with images, as for a map-style set
    probe = _materialize(stream, PROBE_ROWS)
    extra = extra_features(template, probe) if probe is not None else {}
    features = encoded_features(extra)
    features["_row"] = normalized_features()["_row"]
    features["_src"] = normalized_features()["_src"]
    encoded = stream.map(partial(encode_batch, template=template, extra=tuple(extra)), batched=True,
                         batch_size=BATCH, remove_columns=["messages", "images", "_error", "_detail"],
                         features=features)
    encoded = encoded.filter(_Tally(report, labels, "train", data.strict, count_rows=False), batched=True,
                             batch_size=BATCH)
    train = encoded.select_columns([*ENCODED_COLUMNS, *extra])
    val_parts = [v.remove_columns(["_error", "_detail"]) for v in vals if v is not None]
    val = None
    if val_parts:
        from datasets import concatenate_datasets

        val = encode_dataset(concatenate_datasets(val_parts), template, labels, "validation", report,
                             strict=data.strict)
        if len(val) == 0:
            val = None
    return PreparedData(train, val, report, {s.label: "streaming" for s in loaded.sources})

"""The data stage of a run: resolve → load → normalize → split / mix / sample → encode → cache.

``prepare_data(cfg, template, tokenizer)`` returns encoded training and validation sets (``input_ids``,
``labels``, ``length``), the bad-row report and fingerprints. Eager mode (the default, :mod:`ftcore.data.eager`)
encodes everything ahead of training, batched with ``data.num_proc`` processes, and caches the result under
``<cache>/data/<fingerprint>/`` so a second run with the same data, template, tokenizer and settings starts
without re-tokenizing. ``data.lazy`` (:mod:`ftcore.data.lazy`) encodes each sample when the trainer asks for it;
``data.streaming`` (:mod:`ftcore.data.streaming`) never materializes the source (an ``IterableDataset``).

The modules import one way only (checked by the import-linter contracts in pyproject.toml)::

    pipeline → eager | lazy | streaming → cache → encode → mixing → normalize → sources → loading
             → maps / formats / report
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ftcore.data.mixing import normalize_sources
from ftcore.data.normalize import public_rows
from ftcore.data.report import DataReport, PreparedData
from ftcore.data.sources import load_sources

__all__ = ["PreparedData", "get_dataset", "prepare_data"]


def prepare_data(cfg: Any, template: Any, tokenizer: Any = None) -> PreparedData:
    """The run's training and validation sets, encoded with ``template``.

    :param cfg: the RunConfig (its ``data`` section decides sources, split, sample, mode and cache).
    :param template: a :class:`ftcore.templates.TemplateProtocol` (e.g. a :class:`ftcore.templates.Template`).
    :param tokenizer: the template's tokenizer (part of the cache key); default ``template.tokenizer``.
    """
    if cfg.data.streaming:
        from ftcore.data.streaming import prepare_streaming

        return prepare_streaming(cfg, template)
    if cfg.data.lazy:
        from ftcore.data.lazy import prepare_lazy

        return prepare_lazy(cfg, template)
    from ftcore.data.eager import prepare_eager

    return prepare_eager(cfg, template, tokenizer if tokenizer is not None else template.tokenizer)


def get_dataset(names: str | Sequence[Any], test_ratio: float = 0.01, seed: int = 42, sample: int = -1,
                *, strict: bool = False, num_proc: int = 1, base_dir: str = ".") -> tuple[Any, Any]:
    """(train, validation) of normalized rows (``messages``, ``images``) for registered dataset names, local
    paths or ``{"path": ..., "columns": {...}}`` entries (ms-swift: ``get_dataset``). Validation is the
    datasets' own validation splits, else ``test_ratio`` of each dataset (None when 0)."""
    from ftcore.config import DataConfig

    data = DataConfig(datasets=[names] if isinstance(names, (str, Mapping)) else list(names),
                      test_ratio=test_ratio, seed=seed, sample=sample, strict=strict, num_proc=num_proc)
    report = DataReport()
    train, val = normalize_sources(load_sources(data, base_dir), data, report, None)
    report.log()
    return public_rows(train), public_rows(val)

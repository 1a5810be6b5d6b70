"""Data: loading datasets, normalizing rows to messages, encoding with a template, caching, collating.

``ftcore.data.formats`` is pure Python (dataset packs import it at start-up); everything that needs
``datasets`` / torch is imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ftcore.data.formats import BadRow, normalize_row, preprocess_conversations

_LAZY: dict[str, str] = {
    "prepare_data": "ftcore.data.pipeline:prepare_data",
    "PreparedData": "ftcore.data.report:PreparedData",
    "DataReport": "ftcore.data.report:DataReport",
    "get_dataset": "ftcore.data.pipeline:get_dataset",
    "load_spec": "ftcore.data.hub:load_spec",
    "make_collator": "ftcore.data.collate:make_collator",
    "DataCollator": "ftcore.data.collate:DataCollator",
}

__all__ = [
    "BadRow",
    "DataCollator",
    "DataReport",
    "PreparedData",
    "get_dataset",
    "load_spec",
    "make_collator",
    "normalize_row",
    "prepare_data",
    "preprocess_conversations",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'ftcore.data' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from ftcore.data.collate import DataCollator, make_collator
    from ftcore.data.hub import load_spec
    from ftcore.data.pipeline import get_dataset, prepare_data
    from ftcore.data.report import DataReport, PreparedData

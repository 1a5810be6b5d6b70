"""Training: Trainer assembly (``pipeline``), the Trainer subclass (``trainer``), callbacks, output layout
(``output``: versioned run folders, checkpoint references), manifest, trackers (``trackers``) and the plots of
every logged scalar (``plot``).

``train(config) -> TrainResult`` is the entry point; ``sft_main`` is ms-swift's name for it.
Importing this package is light (torch loads when training starts).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ftcore.outputs import resolve_checkpoint

_LAZY = {
    "train": "ftcore.training.pipeline:train",
    "sft_main": "ftcore.training.pipeline:sft_main",
    "TrainResult": "ftcore.training.pipeline:TrainResult",
    "FtcoreTrainer": "ftcore.training.trainer:FtcoreTrainer",
}

__all__ = ["resolve_checkpoint", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'ftcore.training' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from ftcore.training.pipeline import TrainResult, sft_main, train
    from ftcore.training.trainer import FtcoreTrainer

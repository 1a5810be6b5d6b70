"""ftcore: fine-tune large language models from one TOML file; model families and dataset packs are plugins.

This module is the public API. Light names (specs, hookimpl, errors) are imported eagerly; everything that
needs torch is imported on first attribute access, so ``import ftcore`` stays fast for plugin discovery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ftcore.errors import ConfigError, FtcoreError, MissingDependencyError, PluginError, PluginHookError
from ftcore.hookspecs import hookimpl
from ftcore.specs import (
    DatasetOptions,
    DatasetSpec,
    ModelOptions,
    ModelSpec,
    StageSpec,
    TemplateSpec,
    TunerOptions,
    TunerSpec,
)

__version__ = "0.1.0"

#: public name -> "module:attribute", imported on first use (heavy: torch / transformers / datasets)
_LAZY: dict[str, str] = {
    "RunConfig": "ftcore.config:RunConfig",
    "load_config": "ftcore.config:load_config",
    "get_catalog": "ftcore.registry:get_catalog",
    "Template": "ftcore.templates:Template",
    "get_template": "ftcore.templates:get_template",
    "get_model_tokenizer": "ftcore.models:get_model_tokenizer",
    "ModelLoader": "ftcore.models.loading:ModelLoader",
    "get_dataset": "ftcore.data:get_dataset",
    "train": "ftcore.training:train",
    "TrainResult": "ftcore.training:TrainResult",
    "sft_main": "ftcore.training:sft_main",
    "infer": "ftcore.inference:infer",
    "infer_main": "ftcore.inference:infer_main",
    # one answer; ms-swift's name for it is ftcore.inference.inference (ftcore.inference is the package)
    "answer": "ftcore.inference:inference",
    "inference_stream": "ftcore.inference:inference_stream",
    "load_checkpoint": "ftcore.inference:load_checkpoint",
}

__all__ = [
    "ConfigError",
    "DatasetOptions",
    "DatasetSpec",
    "FtcoreError",
    "MissingDependencyError",
    "ModelOptions",
    "ModelSpec",
    "PluginError",
    "PluginHookError",
    "StageSpec",
    "TemplateSpec",
    "TunerOptions",
    "TunerSpec",
    "__version__",
    "hookimpl",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'ftcore' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attr)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig, load_config
    from ftcore.data import get_dataset
    from ftcore.inference import infer, infer_main, inference_stream, load_checkpoint
    from ftcore.inference import inference as answer
    from ftcore.models import get_model_tokenizer
    from ftcore.models.loading import ModelLoader
    from ftcore.registry import get_catalog
    from ftcore.templates import Template, get_template
    from ftcore.training import TrainResult, sft_main, train

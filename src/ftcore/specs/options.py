"""Options handed to the first-result hooks (``load_model``, ``configure_tuner``, ``load_dataset``): plain
dataclasses the pipeline builds from RunConfig, so plugins do not depend on the config's layout. Imported from
:mod:`ftcore.specs`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftcore.specs import ModelSpec

__all__ = ["DatasetOptions", "ModelOptions", "TunerOptions"]


def _fspath(value: Any) -> Any:
    """A path given as ``os.PathLike`` (``pathlib.Path``) as ``str``; anything else unchanged."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


@dataclass
class ModelOptions:
    """How to load a model (argument of the ``load_model`` hook)."""

    #: the resolved local folder holding config, tokenizer and weights
    model_dir: str
    #: ``bf16`` | ``fp16`` | ``fp32`` (already resolved from ``auto``)
    dtype: str = "fp32"
    #: ``sdpa`` | ``eager`` | ``flash_attention_2`` | None (transformers' default)
    attn: str | None = None
    trust_remote_code: bool = False
    #: False: load the tokenizer only (model is returned as None)
    load_model: bool = True
    device_map: Any = None
    max_memory: dict[str, str] | None = None
    #: bitsandbytes settings: {"bits": 4|8, "quant_type": "nf4", "double_quant": True, "compute_dtype": "bf16"}
    quantization: dict[str, Any] | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        self.model_dir = _fspath(self.model_dir)


@dataclass
class TunerOptions:
    """How to wrap a model for training (argument of the ``configure_tuner`` hook)."""

    method: str = "lora"
    rank: int = 8
    alpha: int = 32
    dropout: float = 0.05
    #: resolved module names (``auto`` / ``all`` already expanded by the pipeline)
    targets: list[str] = field(default_factory=list)
    bias: str = "none"
    modules_to_save: list[str] = field(default_factory=list)
    #: the spec of the model being tuned (for family-specific tuning)
    model_spec: ModelSpec | None = None
    gradient_checkpointing: bool = False
    #: the run's ``[tuner]`` keys validated by the method's options model (``TunerSpec.options``): an instance
    #: of that model, or None when the options were built by hand
    method_options: Any = None


@dataclass
class DatasetOptions:
    """How to load a dataset (argument of the ``load_dataset`` hook)."""

    #: ``modelscope`` | ``huggingface`` | ``auto`` (try the cache of each, then download)
    hub: str = "auto"
    #: rows to take at most from the training set (None = all)
    sample: int | None = None
    seed: int = 42
    streaming: bool = False
    cache_dir: str | None = None
    #: the text encoding of local data files (None = UTF-8; a BOM is fine), e.g. ``"gbk"``
    encoding: str | None = None

    def __post_init__(self) -> None:
        self.cache_dir = _fspath(self.cache_dir)

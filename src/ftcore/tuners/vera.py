"""VeRA through peft (``tuner.method = "vera"``): one pair of frozen random matrices shared by every layer, and
per-layer trainable scaling vectors; far fewer parameters than LoRA at a high rank."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ftcore.specs import TunerOptions
from ftcore.tuners.adapter_options import AdapterOptions, adapter_options
from ftcore.tuners.base import wrap_with_peft

__all__ = ["VeraOptions", "apply_vera"]


class VeraOptions(AdapterOptions):
    """The ``[tuner]`` keys of ``vera`` (ms-swift's names; the flat ``rank`` key is LoRA's, VeRA's rank is
    ``vera_rank``)."""

    vera_rank: int = Field(256, ge=1, description="rank of the shared random matrices (ms-swift: vera_rank)")
    vera_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapter's input")
    vera_d_initial: float = Field(0.1, gt=0.0, description="initial value of the d scaling vector")
    vera_projection_prng_key: int = Field(0, description="seed of the shared random matrices")
    save_projection: bool = Field(True, description="save the random matrices with the adapter")


def apply_vera(model: Any, options: TunerOptions) -> Any:
    from peft import VeraConfig

    opts = adapter_options(options, VeraOptions)
    config = VeraConfig(r=opts.vera_rank, vera_dropout=opts.vera_dropout, d_initial=opts.vera_d_initial,
                        projection_prng_key=opts.vera_projection_prng_key, save_projection=opts.save_projection,
                        target_modules=list(options.targets), modules_to_save=list(options.modules_to_save) or None,
                        task_type="CAUSAL_LM")
    return wrap_with_peft(model, options, config)

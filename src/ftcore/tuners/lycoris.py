"""LoKr and LoHa through peft (``tuner.method = "lokr"`` / ``"loha"``, the LyCORIS family): the weight update is a
Kronecker product (LoKr) or a Hadamard product (LoHa) of low-rank factors instead of LoRA's plain product."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ftcore.specs import TunerOptions
from ftcore.tuners.adapter_options import AdapterOptions, adapter_options
from ftcore.tuners.base import wrap_with_peft

__all__ = ["LoHaOptions", "LoKrOptions", "apply_loha", "apply_lokr"]


class LoHaOptions(AdapterOptions):
    """The ``[tuner]`` keys of ``loha`` (peft's LoHaConfig names)."""

    rank: int = Field(8, ge=1, description="rank of each factor")
    alpha: int = Field(32, ge=1, description="scaling: the update is multiplied by alpha / rank")
    rank_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout of each rank during training")
    module_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout of whole modules during training")


class LoKrOptions(LoHaOptions):
    """The ``[tuner]`` keys of ``lokr`` (peft's LoKrConfig names)."""

    decompose_both: bool = Field(False, description="decompose the left Kronecker factor too")
    decompose_factor: int = Field(-1, description="factor of the Kronecker split (-1 = as square as possible)")


def _common(opts: LoHaOptions, options: TunerOptions) -> dict[str, Any]:
    return dict(r=opts.rank, alpha=opts.alpha, rank_dropout=opts.rank_dropout, module_dropout=opts.module_dropout,
                target_modules=list(options.targets), modules_to_save=list(options.modules_to_save) or None,
                task_type="CAUSAL_LM")


def apply_loha(model: Any, options: TunerOptions) -> Any:
    from peft import LoHaConfig

    opts = adapter_options(options, LoHaOptions)
    return wrap_with_peft(model, options, LoHaConfig(**_common(opts, options)))


def apply_lokr(model: Any, options: TunerOptions) -> Any:
    from peft import LoKrConfig

    opts = adapter_options(options, LoKrOptions)
    config = LoKrConfig(decompose_both=opts.decompose_both, decompose_factor=opts.decompose_factor,
                        **_common(opts, options))
    return wrap_with_peft(model, options, config)

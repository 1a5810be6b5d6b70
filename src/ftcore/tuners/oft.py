"""OFT and BOFT through peft (``tuner.method = "oft"`` / ``"boft"``): the targets' weights are multiplied by a
learned orthogonal matrix (block-diagonal for OFT, a butterfly product of blocks for BOFT), which keeps the angles
between neurons, and so more of the base model's knowledge, than an additive update."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ftcore.specs import TunerOptions
from ftcore.tuners.adapter_options import AdapterOptions, adapter_options
from ftcore.tuners.base import wrap_with_peft

__all__ = ["BoftOptions", "OftOptions", "apply_boft", "apply_oft"]


class OftOptions(AdapterOptions):
    """The ``[tuner]`` keys of ``oft`` (peft's OFTConfig names); ``oft_block_size`` must divide each target's
    input size."""

    oft_block_size: int = Field(32, ge=1, description="size of each orthogonal block")
    module_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout of whole blocks during training")
    coft: bool = Field(False, description="constrained OFT (the rotation stays within eps of the identity)")
    eps: float = Field(6e-5, gt=0.0, description="the constraint of coft")
    block_share: bool = Field(False, description="one block shared by every block position")


class BoftOptions(AdapterOptions):
    """The ``[tuner]`` keys of ``boft`` (peft's BOFTConfig names); ``boft_block_size`` must divide each target's
    input size."""

    boft_block_size: int = Field(4, ge=1, description="size of each orthogonal block")
    boft_n_butterfly_factor: int = Field(1, ge=1, description="butterfly factors (1 = plain OFT blocks)")
    boft_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="multiplicative dropout of the blocks")


def apply_oft(model: Any, options: TunerOptions) -> Any:
    from peft import OFTConfig

    opts = adapter_options(options, OftOptions)
    config = OFTConfig(r=0, oft_block_size=opts.oft_block_size, module_dropout=opts.module_dropout, coft=opts.coft,
                       eps=opts.eps, block_share=opts.block_share, target_modules=list(options.targets),
                       modules_to_save=list(options.modules_to_save) or None, task_type="CAUSAL_LM")
    return wrap_with_peft(model, options, config)


def apply_boft(model: Any, options: TunerOptions) -> Any:
    from peft import BOFTConfig

    opts = adapter_options(options, BoftOptions)
    config = BOFTConfig(boft_block_size=opts.boft_block_size, boft_block_num=0,
                        boft_n_butterfly_factor=opts.boft_n_butterfly_factor, boft_dropout=opts.boft_dropout,
                        target_modules=list(options.targets), modules_to_save=list(options.modules_to_save) or None,
                        task_type="CAUSAL_LM")
    return wrap_with_peft(model, options, config)

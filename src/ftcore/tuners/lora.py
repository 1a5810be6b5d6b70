"""LoRA through peft (``tuner.method = "lora"``); on a quantized model peft's k-bit preparation runs first."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import enable_checkpointing, is_quantized

__all__ = ["LoraOptions", "apply_lora"]


class LoraOptions(BaseModel):
    """The ``[tuner]`` keys of ``lora`` and ``qlora`` (defaults as in ms-swift's sft.sh)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(8, ge=1, description="the adapter's rank r")
    alpha: int = Field(32, ge=1, description="scaling: the update is multiplied by alpha / rank")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the adapter's input")
    targets: str | list[str] = Field("auto", description="auto, all or a list of module names")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train")
    modules_to_save: list[str] = Field(default_factory=list, description="modules trained in full and saved")


def apply_lora(model: Any, options: TunerOptions) -> Any:
    """Wrap ``model`` in a ``peft.PeftModel`` with LoRA adapters on ``options.targets``."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if is_quantized(model):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=options.gradient_checkpointing)
    if options.gradient_checkpointing:
        enable_checkpointing(model, frozen_embeddings=True)
    if not options.targets:
        raise FtcoreError("tuner.targets: no modules to wrap with LoRA (give a list, or 'all')")
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.targets),
        bias=options.bias,  # type: ignore[arg-type]  # checked by TunerConfig
        modules_to_save=list(options.modules_to_save) or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)

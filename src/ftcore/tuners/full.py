"""Full fine-tuning (``tuner.method = "full"``): every parameter trains; the model is returned as it is."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import enable_checkpointing, is_quantized

__all__ = ["FullOptions", "apply_full"]


class FullOptions(BaseModel):
    """``full`` takes no ``[tuner]`` keys besides ``method``."""

    model_config = ConfigDict(extra="forbid")


def apply_full(model: Any, options: TunerOptions) -> Any:
    """Make every parameter trainable (a quantized model cannot be trained in full)."""
    if is_quantized(model):
        raise FtcoreError("tuner.method: full fine-tuning cannot train a quantized model; use method = 'qlora'")
    for p in model.parameters():
        p.requires_grad_(True)
    if options.gradient_checkpointing:
        enable_checkpointing(model, frozen_embeddings=False)
    return model

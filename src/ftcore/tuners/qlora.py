"""QLoRA (``tuner.method = "qlora"``): LoRA on a model loaded quantized by bitsandbytes (``model.quantization``;
``method = "qlora"`` alone turns on 4-bit loading in the config)."""

from __future__ import annotations

from typing import Any

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import is_quantized
from ftcore.tuners.lora import apply_lora

__all__ = ["apply_qlora"]


def apply_qlora(model: Any, options: TunerOptions) -> Any:
    """LoRA on a quantized model; an unquantized one is an error saying how to quantize it."""
    if not is_quantized(model):
        raise FtcoreError("tuner.method = 'qlora' needs a quantized model: set model.quantization.bits = 4")
    return apply_lora(model, options)

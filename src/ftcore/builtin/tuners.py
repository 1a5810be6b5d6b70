"""Built-in tuners: LoRA / QLoRA through peft, and full fine-tuning (``configure_tuner``, trylast)."""

from __future__ import annotations

from typing import Any

from ftcore.hookspecs import hookimpl
from ftcore.specs import TunerOptions


@hookimpl(trylast=True)
def configure_tuner(model: Any, options: TunerOptions) -> Any:
    from ftcore.tuners import apply_tuner

    return apply_tuner(model, options)

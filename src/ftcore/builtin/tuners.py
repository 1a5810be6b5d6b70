"""Built-in tuners: LoRA / QLoRA through peft and full fine-tuning (``register_tuners``), and the default
``configure_tuner`` (trylast) that calls the registered method's ``apply``.

``apply`` and ``options`` are ``"module:attribute"`` strings, so listing the catalog imports neither peft nor torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftcore.hookspecs import hookimpl
from ftcore.specs import TunerOptions, TunerSpec

TUNERS = (
    TunerSpec(
        name="lora",
        apply="ftcore.tuners.lora:apply_lora",
        options="ftcore.tuners.lora:LoraOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=True,  # LoRA on a pre-quantized (GPTQ, bitsandbytes) model
        supports_zero3=True,
        needs_targets=True,
        tags=["peft", "adapter"],
        description="LoRA adapters (peft) on the target modules; the base model stays frozen",
    ),
    TunerSpec(
        name="qlora",
        apply="ftcore.tuners.qlora:apply_qlora",
        options="ftcore.tuners.lora:LoraOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=True,
        supports_zero3=False,
        needs_targets=True,
        tags=["peft", "adapter", "bitsandbytes"],
        description="LoRA on a model loaded 4-bit (or 8-bit) by bitsandbytes; turns on model.quantization.bits = 4",
    ),
    TunerSpec(
        name="full",
        apply="ftcore.tuners.full:apply_full",
        options="ftcore.tuners.full:FullOptions",
        default_lr=2e-5,
        supports_merge=False,
        supports_quantized=False,
        supports_zero3=True,
        needs_targets=False,
        tags=["full"],
        description="every parameter trains; checkpoints hold the whole model",
    ),
)


@hookimpl
def register_tuners(register: Callable[[TunerSpec], None]) -> None:
    for spec in TUNERS:
        register(spec)


@hookimpl(trylast=True)
def configure_tuner(model: Any, options: TunerOptions) -> Any:
    from ftcore.errors import FtcoreError, PluginHookError
    from ftcore.registry import get_catalog
    from ftcore.tuners import apply_tuner

    try:
        return apply_tuner(model, options)
    except FtcoreError:
        raise
    except Exception as exc:
        # a method another plugin registered: its ``apply`` failed, so name that plugin
        spec = get_catalog().tuners.specs.get(options.method)
        if spec is None or not spec.plugin or spec.plugin.startswith("ftcore "):
            raise
        raise PluginHookError(spec.plugin, "configure_tuner", exc) from exc

"""Built-in tuners: LoRA / QLoRA and the other peft adapters (AdaLoRA, IA3, VeRA, LoKr, LoHa, OFT, BOFT), full
fine-tuning, freeze, LLaMA-Pro and GaLore (``register_tuners``), and the default
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
    TunerSpec(
        name="adalora",
        apply="ftcore.tuners.adalora:apply_adalora",
        options="ftcore.tuners.adalora:AdaLoraOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=True,
        supports_zero3=False,  # the rank allocation reads whole gradients
        needs_targets=True,
        tags=["peft", "adapter", "lora-family"],
        description="LoRA whose ranks are reallocated to the modules that matter during training (needs the "
        "run's length: train.max_steps or tuner.total_step)",
    ),
    TunerSpec(
        name="ia3",
        apply="ftcore.tuners.ia3:apply_ia3",
        options="ftcore.tuners.ia3:IA3Options",
        default_lr=1e-3,
        supports_merge=True,
        supports_quantized=True,
        supports_zero3=True,
        needs_targets=True,
        tags=["peft", "adapter"],
        description="(IA)^3: learned vectors rescale keys, values and the MLP input; the fewest parameters",
    ),
    TunerSpec(
        name="vera",
        apply="ftcore.tuners.vera:apply_vera",
        options="ftcore.tuners.vera:VeraOptions",
        default_lr=1e-3,
        supports_merge=True,
        supports_quantized=False,
        supports_zero3=False,  # the shared random matrices are buffers every layer reads
        needs_targets=True,
        tags=["peft", "adapter"],
        description="VeRA: shared frozen random matrices, per-layer trained scaling vectors",
    ),
    TunerSpec(
        name="lokr",
        apply="ftcore.tuners.lycoris:apply_lokr",
        options="ftcore.tuners.lycoris:LoKrOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=False,
        supports_zero3=True,
        needs_targets=True,
        tags=["peft", "adapter", "lycoris"],
        description="LoKr: the update is a Kronecker product of small factors",
    ),
    TunerSpec(
        name="loha",
        apply="ftcore.tuners.lycoris:apply_loha",
        options="ftcore.tuners.lycoris:LoHaOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=False,
        supports_zero3=True,
        needs_targets=True,
        tags=["peft", "adapter", "lycoris"],
        description="LoHa: the update is a Hadamard product of two low-rank products",
    ),
    TunerSpec(
        name="oft",
        apply="ftcore.tuners.oft:apply_oft",
        options="ftcore.tuners.oft:OftOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=False,
        supports_zero3=True,
        needs_targets=True,
        tags=["peft", "adapter", "orthogonal"],
        description="OFT: the weights are rotated by a learned block-diagonal orthogonal matrix",
    ),
    TunerSpec(
        name="boft",
        apply="ftcore.tuners.oft:apply_boft",
        options="ftcore.tuners.oft:BoftOptions",
        default_lr=1e-4,
        supports_merge=True,
        supports_quantized=False,
        supports_zero3=False,
        needs_targets=True,
        tags=["peft", "adapter", "orthogonal"],
        description="BOFT: OFT with the rotation a butterfly product of small orthogonal blocks",
    ),
    TunerSpec(
        name="freeze",
        apply="ftcore.tuners.freeze:apply_freeze",
        options="ftcore.tuners.freeze:FreezeOptions",
        default_lr=2e-5,
        supports_merge=False,
        supports_quantized=False,
        supports_zero3=True,
        needs_targets=False,
        tags=["full", "partial"],
        description="full fine-tuning of the last decoder layers (and named modules); the rest frozen",
    ),
    TunerSpec(
        name="llama-pro",
        apply="ftcore.tuners.freeze:apply_llama_pro",
        options="ftcore.tuners.freeze:LlamaProOptions",
        default_lr=5e-5,
        supports_merge=False,
        supports_quantized=False,
        supports_zero3=False,  # the model is rebuilt before training
        needs_targets=False,
        tags=["full", "partial", "expansion"],
        description="LLaMA-Pro: new identity decoder blocks inserted, only they train; saves the larger model",
    ),
    TunerSpec(
        name="galore",
        apply="ftcore.tuners.galore:apply_galore",
        options="ftcore.tuners.galore:GaloreOptions",
        default_lr=2e-5,
        supports_merge=False,
        supports_quantized=False,
        supports_zero3=False,
        needs_targets=True,
        tags=["full", "optimizer"],
        description="GaLore: full fine-tuning with low-rank projected optimizer states (needs galore-torch)",
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

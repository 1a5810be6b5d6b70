"""(IA)^3 through peft (``tuner.method = "ia3"``): learned vectors rescale the targets' activations (attention keys
and values, the MLP's down projection by default); the fewest trainable parameters of the adapters."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ftcore.specs import TunerOptions
from ftcore.tuners.adapter_options import AdapterOptions, adapter_options
from ftcore.tuners.base import wrap_with_peft

__all__ = ["IA3Options", "apply_ia3", "feedforward_names"]

#: module name components of the feed-forward part (IA3 scales their input rather than their output)
FEEDFORWARD = ("mlp", "feed_forward", "ffn")


class IA3Options(AdapterOptions):
    """The ``[tuner]`` keys of ``ia3``: ``targets = "auto"`` means k_proj, v_proj and down_proj where the model
    has them (peft's default for Llama-like models), else every Linear."""

    feedforward_modules: list[str] | None = Field(
        None, description="targets that are feed-forward layers (default: the targets under an mlp module)")


def feedforward_names(model: Any, targets: list[str]) -> list[str]:
    """The targets found under an MLP module of ``model``."""
    out = set()
    for name, _ in model.named_modules():
        last = name.rsplit(".", 1)[-1]
        if last in targets and any(part in FEEDFORWARD for part in name.split(".")):
            out.add(last)
    return sorted(out)


def apply_ia3(model: Any, options: TunerOptions) -> Any:
    from peft import IA3Config

    opts = adapter_options(options, IA3Options)
    targets = list(options.targets)
    if opts.targets == "auto" and {"k_proj", "v_proj", "down_proj"} <= set(targets):
        targets = ["k_proj", "v_proj", "down_proj"]
    feedforward = opts.feedforward_modules if opts.feedforward_modules is not None else feedforward_names(
        model, targets)
    config = IA3Config(target_modules=targets, feedforward_modules=feedforward,
                       modules_to_save=list(options.modules_to_save) or None, task_type="CAUSAL_LM")
    return wrap_with_peft(model, options, config)

"""Helpers every tuning method shares: is the model quantized, gradient checkpointing, parameter counts."""

from __future__ import annotations

from typing import Any

__all__ = ["count_parameters", "describe_parameters", "enable_checkpointing", "is_quantized"]


def is_quantized(model: Any) -> bool:
    """Whether ``model`` was loaded quantized (bitsandbytes, GPTQ …)."""
    return bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "hf_quantizer", None) is not None
        or getattr(model, "quantization_method", None)
    )


def enable_checkpointing(model: Any, *, frozen_embeddings: bool) -> None:
    """Turn on gradient checkpointing (non-reentrant) and switch off the generation cache.

    With frozen embeddings (LoRA, most adapters) the checkpointed blocks would see inputs that need no grad and
    drop the adapters' gradients; ``enable_input_require_grads`` makes the embedding output require grad.
    """
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5's name (the old one warns)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if frozen_embeddings and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    if hasattr(model, "config"):
        model.config.use_cache = False


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (shared tensors counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        if hasattr(p, "ds_numel"):  # DeepSpeed ZeRO-3 partitions parameters
            n = p.ds_numel
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def describe_parameters(model: Any) -> str:
    """``trainable params: 1,234 || all params: 5,678 || trainable%: 21.73``."""
    trainable, total = count_parameters(model)
    pct = 100.0 * trainable / total if total else 0.0
    return f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {pct:.4f}"

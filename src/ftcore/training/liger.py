"""``train.liger``: Liger kernels (liger-kernel, triton, CUDA GPUs) under ftcore's loss-only head.

:func:`apply_liger` patches the model instance with Liger's fused RMSNorm, RoPE and SwiGLU (``liger_kernel``'s
per-architecture ``apply_liger_kernel_to_<model_type>``; an architecture it does not know is left as it is).
Liger's own fused-linear-cross-entropy *forward* patch is not used: ftcore's loss already applies the head only
where labels carry loss. Instead :func:`liger_head_cross_entropy` is the head + cross-entropy on those selected
positions — Liger's ``LigerFusedLinearCrossEntropyFunction`` in place of ftcore's chunked
``_LinearCrossEntropy``, same contract (sum of token losses, correct-token count), used by
:func:`ftcore.training.loss.head_cross_entropy_sum` when ``impl="liger"`` and the head is a plain linear layer on a
CUDA device. bench/gpu_liger.py checks both against each other on a GPU; preflight refuses ``train.liger``
without the package or without a CUDA GPU.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LIGER_PATCHES", "apply_liger", "liger_head_cross_entropy"]

#: the Liger kernels ftcore switches on (keyword arguments of ``apply_liger_kernel_to_<model_type>``)
LIGER_PATCHES = {"rope": True, "rms_norm": True, "swiglu": True, "cross_entropy": False,
                 "fused_linear_cross_entropy": False}


def apply_liger(model: Any) -> str | None:
    """Patch the (unwrapped) transformers model in place; returns its model type, or None when Liger has no
    kernels for it."""
    from liger_kernel.transformers.monkey_patch import (
        MODEL_TYPE_TO_APPLY_LIGER_FN,
        _apply_liger_kernel_to_instance,
    )

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        return None
    _apply_liger_kernel_to_instance(model=model, **LIGER_PATCHES)
    return str(model_type)


def liger_head_cross_entropy(hidden: Any, weight: Any, bias: Any, targets: Any) -> tuple[Any, Any]:
    """``(sum of cross-entropy losses of hidden @ weight.T + bias against targets, correct-token count)`` through
    Liger's fused linear cross-entropy (no N × vocab logits kept)."""
    import torch
    from liger_kernel.ops.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyFunction

    loss, _z, accuracy, _pred = LigerFusedLinearCrossEntropyFunction.apply(
        hidden.to(weight.dtype), weight, targets, bias, None, -100, 0.0, 0.0, "sum", None, False, torch.float32,
        False, True)
    correct = (accuracy.detach() * targets.numel()).round().long() if accuracy is not None else None
    return loss.float(), correct

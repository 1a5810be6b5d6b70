"""LoRA's low-rank update added in place, with its weight gradient in the fast layout, on the CPU.

peft computes a LoRA layer as ``result = result + lora_B(lora_A(dropout(x))) * scaling``: the up-projection
writes a fresh (tokens × out) tensor, ``* scaling`` and ``+`` write two more (and their backward passes one more
each), and autograd computes ``lora_B``'s weight gradient as ``grad.T @ a`` — (out × tokens) @ (tokens × r) —
which MKL runs at a sixth of the speed of the same product written ``(a.T @ grad).T`` (measured on the
development machine, 8192 tokens, out 1024, r 8: 20.7 ms vs 3.5 ms). :func:`fast_lora` gives the model's plain
LoRA ``Linear`` layers a forward that does ``result.addmm_(a, scaling · B.T)`` in place — no (tokens × out)
temporary at all — with a backward that takes the fast layout. Same values (the product of the same factors,
summed in a different order) and gradients (``tests/training/perf/test_lora_cpu.py``).

Only where it is exactly peft's computation: a ``peft.tuners.lora.layer.Linear`` over an ``nn.Linear``, one
active adapter, plain LoRA (no DoRA or other variant), not merged, adapters enabled, no mixed-adapter batch, on
the CPU; under bf16 (weights or autocast) the update is computed in the result's dtype, as autocast computes
peft's ``lora_B``; ``lora_B``'s weight a plain parameter (not a ZeRO-3 partition or an FSDP shard, which are
only whole inside the module's own call). Everything else runs peft's own forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class _AddLowRank(torch.autograd.Function):
    """``result + scaling · a @ weight.T`` written into ``result``."""

    @staticmethod
    def forward(ctx: Any, result: torch.Tensor, a: torch.Tensor, weight: torch.Tensor,  # type: ignore[override]
                scaling: float) -> torch.Tensor:
        dtype = result.dtype
        a2 = a.reshape(-1, a.shape[-1]).to(dtype)
        w = weight.to(dtype)
        result.view(-1, result.shape[-1]).addmm_(a2, w.t(), alpha=scaling)
        ctx.mark_dirty(result)
        ctx.save_for_backward(a2, w)
        ctx.scaling, ctx.shapes = scaling, (a.shape, a.dtype, weight.dtype)
        return result

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # type: ignore[override]
        a2, w = ctx.saved_tensors
        a_shape, a_dtype, w_dtype = ctx.shapes
        g2 = grad.reshape(-1, grad.shape[-1])
        grad_a = grad_w = None
        if ctx.needs_input_grad[1]:
            grad_a = torch.mm(g2, w).mul_(ctx.scaling).view(a_shape).to(a_dtype)
        if ctx.needs_input_grad[2]:
            grad_w = torch.mm(a2.t(), g2).mul_(ctx.scaling).t().to(w_dtype)  # (r × N) @ (N × out): the fast layout
        return grad, grad_a, grad_w, None


def _peft_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    """peft's own forward: the class this layer's fast class was made from."""
    parent: Any = type(self).__mro__[1]
    return parent.forward(self, x, *args, **kwargs)


def _plain_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    adapters = self.active_adapters
    name = adapters[0] if len(adapters) == 1 else None
    if (args or kwargs or name is None or self.disable_adapters or self.merged or x.device.type != "cpu"
            or name not in self.lora_A or name in getattr(self, "lora_variant", {})
            or getattr(self, "lora_bias", {}).get(name) or type(self.get_base_layer()) is not nn.Linear
            or not torch.is_grad_enabled()):
        return _peft_forward(self, x, *args, **kwargs)
    lora_a, lora_b = self.lora_A[name], self.lora_B[name]
    weight = lora_b.weight
    if type(lora_a) is not nn.Linear or type(lora_b) is not nn.Linear or lora_b.bias is not None \
            or type(weight) is not nn.Parameter or hasattr(weight, "ds_id") or weight.dim() != 2:
        # ZeRO-3 partitions and FSDP's sharded parameters are only whole inside the module's own call
        return _peft_forward(self, x, *args, **kwargs)
    result = self.base_layer(x)
    a = lora_a(self.lora_dropout[name](self._cast_input_dtype(x, lora_a.weight.dtype)))
    if not result.is_contiguous():
        result = result.contiguous()
    return _AddLowRank.apply(result, a, lora_b.weight, float(self.scaling[name]))


_SUBCLASSES: dict[type, type] = {}


def _fast_class(cls: type) -> type:
    if cls not in _SUBCLASSES:
        _SUBCLASSES[cls] = type(cls.__name__, (cls,), {"forward": _plain_forward, "__module__": cls.__module__})
    return _SUBCLASSES[cls]


@contextlib.contextmanager
def fast_lora(model: nn.Module, enabled: bool = True) -> Iterator[int]:
    """While inside, ``model``'s peft LoRA ``Linear`` layers use the in-place update (where it applies, see the
    module's text); yields how many layers were switched. Their class comes back on exit."""
    switched: list[tuple[nn.Module, type]] = []
    if enabled:
        from peft.tuners.lora.layer import Linear as LoraLinear

        for module in model.modules():
            if type(module) is LoraLinear:
                switched.append((module, type(module)))
                module.__class__ = _fast_class(type(module))
    try:
        yield len(switched)
    finally:
        for module, cls in switched:
            module.__class__ = cls

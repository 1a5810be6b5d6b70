"""Dropout with cheap random bits on the CPU (LoRA's ``lora_dropout``, any ``nn.Dropout`` of the model).

``torch.nn.functional.dropout`` draws one Bernoulli sample per element; on the CPU that is the slowest part of
LoRA's adapter path (measured on the development machine, 2 cores: 8.3 ms for a 8 × 1024 × 256 input, ~6 % of a
training step of the throughput benchmark's model — more than the adapter's matmuls). :class:`FastDropout`
instead fills 16 bits of one 64-bit random draw per element (four elements a draw, torch's own generator, so
``seed`` still makes runs repeatable) and keeps an element when its 16 bits are at least ``round(p · 65536)``:
the dropped share is ``p`` rounded to 1/65536 (0.05 → 0.0500031), and kept elements are scaled by the exact
inverse of the kept share, so the expectation is the input's, as with ``nn.Dropout``. The mask is kept as
booleans for the backward pass. A forward pass over 8 × 1024 × 1024 elements: 57.7 ms → 22.7 ms (forward +
backward 74.8 → 41.6 ms). Off the CPU, in eval mode or with ``p = 0`` it is ``nn.Dropout``.

:func:`fast_dropout` turns every ``nn.Dropout`` of a model into one for a block of code and back (the Trainer does
it for a training run; a saved model holds no trace of it). ``tests/training/perf/test_fast_dropout.py``
checks the kept share, the scaling, the gradient and the reproducibility.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

_LEVELS = 65536


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, cut: int) -> torch.Tensor:  # type: ignore[override]
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
        keep = bits.view(torch.int16).view(-1)[:n].view(x.shape) >= cut - _LEVELS // 2
        scale = _LEVELS / (_LEVELS - cut)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0.0).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # type: ignore[override]
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training path draws 16 random bits per element (see the module's text)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cut = round(self.p * _LEVELS)
        if not self.training or cut <= 0 or cut >= _LEVELS or self.inplace or x.device.type != "cpu" \
                or not x.is_floating_point():
            return super().forward(x)
        return _Dropout.apply(x, cut)


@contextlib.contextmanager
def fast_dropout(model: nn.Module, enabled: bool = True) -> Iterator[int]:
    """While inside, every ``nn.Dropout`` of ``model`` (exactly that class) is a :class:`FastDropout`; yields how
    many were switched."""
    switched = [m for m in model.modules() if type(m) is nn.Dropout] if enabled else []
    for module in switched:
        module.__class__ = FastDropout
    try:
        yield len(switched)
    finally:
        for module in switched:
            module.__class__ = nn.Dropout

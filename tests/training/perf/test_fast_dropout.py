"""FastDropout (ftcore.training.dropout): nn.Dropout's distribution and gradient with cheaper random bits."""

from __future__ import annotations

import torch
from torch import nn

from ftcore.training.dropout import FastDropout, fast_dropout


def test_kept_share_scaling_and_gradient():
    torch.manual_seed(0)
    drop = FastDropout(0.05).train()
    x = torch.rand(64, 1000, dtype=torch.float32) + 1.0
    x.requires_grad_()
    y = drop(x)
    kept = y != 0
    share = kept.float().mean().item()
    assert abs(share - 0.95) < 0.003  # 64k elements: ~0.0009 standard deviation
    scale = 65536 / (65536 - round(0.05 * 65536))
    torch.testing.assert_close(y[kept], x.detach()[kept] * scale)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() * scale)
    # every one of the four 16-bit lanes of a draw drops its share (no lane is biased)
    lanes = kept.view(-1, 4).float().mean(dim=0)
    assert (lanes - 0.95).abs().max() < 0.006, lanes


def test_repeatable_with_the_seed_and_identity_in_eval():
    x = torch.randn(3, 5, 7)
    torch.manual_seed(1)
    a = FastDropout(0.3).train()(x)
    torch.manual_seed(1)
    b = FastDropout(0.3).train()(x)
    assert torch.equal(a, b)
    assert torch.equal(FastDropout(0.3).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)


def test_bf16_input_keeps_its_dtype():
    y = FastDropout(0.5).train()(torch.ones(1001, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and set(y.unique().tolist()) <= {0.0, 2.0}


def test_context_switches_and_restores_every_dropout():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.ModuleDict({"a": nn.Dropout(0.2)}))
    with fast_dropout(model) as n:
        assert n == 2 and type(model[1]) is FastDropout and type(model[2]["a"]) is FastDropout
    assert type(model[1]) is nn.Dropout and type(model[2]["a"]) is nn.Dropout
    with fast_dropout(model, enabled=False) as n:
        assert n == 0 and type(model[1]) is nn.Dropout

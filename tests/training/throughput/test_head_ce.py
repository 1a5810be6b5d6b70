"""The single-pass cache-blocked head (ftcore.training.head_ce) against full logits + cross-entropy."""

from __future__ import annotations

import pytest
import torch

from ftcore.training.head_ce import online_linear_cross_entropy


def _reference(hidden, weight, bias, targets):
    h = hidden.detach().clone().requires_grad_()
    logits = torch.nn.functional.linear(h.to(weight.dtype), weight, bias).float()
    loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    loss.backward()
    return loss.detach(), int((logits.argmax(dim=1) == targets).sum()), h.grad


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("blocks", [(7, 50), (64, 1000), (1000, 64)])
def test_fp32_equals_full_logits(with_bias, blocks):
    torch.manual_seed(0)
    n, width, vocab = 37, 16, 333  # ragged: the last token chunk and vocabulary block are partial
    hidden, weight = torch.randn(n, width), torch.randn(vocab, width)
    bias = torch.randn(vocab) if with_bias else None
    targets = torch.randint(0, vocab, (n,))
    targets[:5] = torch.nn.functional.linear(hidden[:5], weight, bias).argmax(dim=1)  # some right answers for the accuracy count
    total, correct, grad = online_linear_cross_entropy(hidden, weight, bias, targets, want_grad=True, blocks=blocks)
    ref_total, ref_correct, ref_grad = _reference(hidden, weight, bias, targets)
    torch.testing.assert_close(total, ref_total, rtol=1e-5, atol=1e-4)
    assert int(correct) == ref_correct >= 5
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)


def test_large_logits_stay_finite():
    """The online max keeps exp() in range where a naive softmax would overflow."""
    torch.manual_seed(1)
    hidden, weight = torch.randn(9, 8) * 30, torch.randn(200, 8) * 30
    targets = torch.randint(0, 200, (9,))
    total, _, grad = online_linear_cross_entropy(hidden, weight, None, targets, want_grad=True, blocks=(4, 16))
    ref_total, _, ref_grad = _reference(hidden, weight, None, targets)
    assert torch.isfinite(total) and torch.isfinite(grad).all()
    torch.testing.assert_close(total, ref_total, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-3)


def test_bf16_weights_close_to_fp32_logits_of_the_same_weights():
    torch.manual_seed(2)
    hidden, weight = torch.randn(40, 32), torch.randn(500, 32) * 0.1
    targets = torch.randint(0, 500, (40,))
    total, correct, grad = online_linear_cross_entropy(hidden.bfloat16(), weight.bfloat16(), None, targets,
                                                       want_grad=True, blocks=(16, 128))
    assert grad.dtype == torch.bfloat16
    ref_total, _, ref_grad = _reference(hidden.bfloat16().float(), weight.bfloat16().float(), None, targets)
    torch.testing.assert_close(total, ref_total, rtol=2e-3, atol=0.0)
    torch.testing.assert_close(grad.float(), ref_grad, rtol=0.05, atol=0.02)


def test_without_gradient():
    torch.manual_seed(3)
    hidden, weight = torch.randn(5, 8), torch.randn(30, 8)
    targets = torch.randint(0, 30, (5,))
    total, _, grad = online_linear_cross_entropy(hidden, weight, None, targets, want_grad=False)
    assert grad is None
    torch.testing.assert_close(total, _reference(hidden, weight, None, targets)[0])


def test_loss_only_head_uses_it_for_a_frozen_head_on_cpu(monkeypatch):
    """causal_lm_loss's fused head takes the online path for a frozen head, the chunked one for a trained head."""
    import ftcore.training.head_ce as head_ce
    from ftcore.training.loss import head_cross_entropy_sum

    calls = []
    real = head_ce.online_linear_cross_entropy
    monkeypatch.setattr(head_ce, "online_linear_cross_entropy", lambda *a, **k: calls.append(1) or real(*a, **k))
    head = torch.nn.Linear(8, 50, bias=False)
    hidden = torch.randn(6, 8, requires_grad=True)
    targets = torch.randint(0, 50, (6,))
    head.weight.requires_grad_(False)
    frozen = head_cross_entropy_sum(hidden, targets, head)
    frozen.backward()
    assert calls == [1]
    head.weight.requires_grad_(True)
    trained = head_cross_entropy_sum(hidden, targets, head)
    assert calls == [1]
    torch.testing.assert_close(frozen.detach(), trained.detach())

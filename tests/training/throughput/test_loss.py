"""Loss-only LM head: same loss and gradients as the standard full-logits path; token-mean normalization."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from ftcore.data.packing import PackedCollator, pack_samples
from ftcore.training.loss import (
    IGNORE_INDEX,
    _plain_linear,
    causal_lm_loss,
    find_decoder_and_head,
    full_logits_loss,
    head_cross_entropy_sum,
    unwrap_model,
)

from .conftest import load_tiny


def _encoded(vocab: int, n: int = 6, seed: int = 0) -> list[dict]:
    """Samples with a prompt (labels -100) and an answer (labels = ids), lengths 5..24."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        p, a = (int(x) for x in torch.randint(2, 12, (2,), generator=g))
        ids = torch.randint(100, vocab - 100, (p + a,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * p + ids[p:]})
    return out


def _padded(samples: list[dict]) -> dict:
    width = max(len(s["input_ids"]) for s in samples)
    ids = torch.zeros((len(samples), width), dtype=torch.long)
    lab = torch.full((len(samples), width), IGNORE_INDEX)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for k, s in enumerate(samples):
        n = len(s["input_ids"])
        ids[k, :n] = torch.tensor(s["input_ids"])
        lab[k, :n] = torch.tensor(s["labels"])
        mask[k, :n] = 1
    return {"input_ids": ids, "labels": lab, "attention_mask": mask}


def _packed(samples: list[dict], budget: int = 40) -> dict:
    return PackedCollator(pad_token_id=0)(pack_samples(samples, budget))


def _prepare(path: str, tuning: str):
    model = load_tiny(path)
    model.train()  # dropout is 0 in these configs, so train mode is deterministic
    if tuning == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
        for n, p in model.named_parameters():  # non-zero B so LoRA gradients reach everything
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.02)
    elif tuning == "lora+head":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                                                 modules_to_save=["lm_head"]))
    return model


def _grads(model, inputs, fn, **kw):
    model.zero_grad(set_to_none=True)
    loss = fn(model, inputs, **kw)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def _reference(model, inputs, num_items_in_batch=None):
    """transformers' own loss (labels passed to the model)."""
    kw = {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}
    return model(**inputs, use_cache=False, **kw).loss


def _assert_same(a, b):
    (la, ga), (lb, gb) = a, b
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-6)
    assert ga.keys() == gb.keys() and ga
    for n in ga:
        torch.testing.assert_close(ga[n], gb[n], rtol=1e-4, atol=1e-6, msg=n)


CASES = [
    ("qwen2", "lora"),  # tied head, frozen
    ("llama", "lora"),  # untied head, frozen
    ("qwen2", "full"),  # tied head trained (through the embedding)
    ("llama", "full"),  # untied head trained
    ("llama", "lora+head"),  # head trained as peft modules_to_save
]


@pytest.mark.parametrize(("arch", "tuning"), CASES)
@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_loss_only_head_matches_full_logits(tiny_dirs, arch, tuning, layout):
    model = _prepare(tiny_dirs[arch], tuning)
    samples = _encoded(model.config.vocab_size if hasattr(model, "config") else 151665)
    inputs = _padded(samples) if layout == "padded" else _packed(samples)
    ref = _grads(model, inputs, lambda m, x: _reference(m, x))
    fast = _grads(model, inputs, causal_lm_loss)
    _assert_same(fast, ref)
    assert unwrap_model(model)._ftcore_loss_only_head_ok is True  # the fast path ran, no fallback
    if tuning != "full":
        assert _plain_linear(find_decoder_and_head(model)[1]) is not None  # fused head path
    slow = _grads(model, inputs, causal_lm_loss, loss_only_head=False)
    _assert_same(slow, ref)
    # small chunks: several chunks per batch, same result
    chunked = _grads(model, inputs, causal_lm_loss, chunk_tokens=7)
    _assert_same(chunked, ref)


def test_generic_head_path_with_checkpointed_chunks(tiny_dirs):
    """A head that is not a plain Linear goes through the module, chunk by chunk, same numbers."""
    model = load_tiny(tiny_dirs["llama"])
    _, head = find_decoder_and_head(model)
    wrapped = torch.nn.Sequential(head)  # not a plain nn.Linear → generic path
    h = torch.randn(23, model.config.hidden_size, requires_grad=True)
    y = torch.randint(0, model.config.vocab_size, (23,))
    a = head_cross_entropy_sum(h, y, wrapped, chunk_tokens=5)
    (ga,) = torch.autograd.grad(a, h)
    b = torch.nn.functional.cross_entropy(head(h), y, reduction="sum")
    (gb,) = torch.autograd.grad(b, h)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-6)


def test_logit_transform_after_head_falls_back_to_full_logits(tiny_dirs):
    model = load_tiny(tiny_dirs["qwen2"])

    def softcap(_m, _a, out):  # stands in for gemma-style soft-capping applied after the head
        out.logits = torch.tanh(out.logits / 3.0) * 3.0
        return out

    model.register_forward_hook(softcap)
    inputs = _packed(_encoded(model.config.vocab_size))
    ref = _grads(model, inputs, lambda m, x: full_logits_loss(m, x))
    fast = _grads(model, inputs, causal_lm_loss)
    _assert_same(fast, ref)
    assert model._ftcore_loss_only_head_ok is False


def test_no_label_tokens_gives_zero_loss_with_a_graph(tiny_dirs):
    model = load_tiny(tiny_dirs["qwen2"])
    inputs = _packed([{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX] * 3}])
    loss = causal_lm_loss(model, inputs)
    assert loss.item() == 0.0 and loss.requires_grad


@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_gradient_accumulation_equals_one_big_batch(tiny_dirs, layout):
    """With num_items_in_batch (the Trainer's count over the effective batch), accumulating micro-batches
    gives exactly the gradient of one big batch: the mean over all label tokens."""
    model = _prepare(tiny_dirs["llama"], "lora")
    samples = _encoded(model.config.vocab_size, n=12, seed=5)
    make = _padded if layout == "padded" else _packed
    micro = [make(samples[i:i + 3]) for i in range(0, 12, 3)]
    total = sum(int((m["labels"][:, 1:] != IGNORE_INDEX).sum()) for m in micro)

    big_loss, big = _grads(model, make(samples), causal_lm_loss)

    model.zero_grad(set_to_none=True)
    acc_loss = 0.0
    for m in micro:
        loss = causal_lm_loss(model, m, num_items_in_batch=torch.tensor(total))
        loss.backward()
        acc_loss += loss.item()
    acc = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    _assert_same((torch.tensor(acc_loss), acc), (big_loss, big))

    # the mean of per-micro-batch means is a different (wrong) objective when token counts differ
    means = sum(causal_lm_loss(model, m).item() for m in micro) / len(micro)
    counts = [int((m["labels"][:, 1:] != IGNORE_INDEX).sum()) for m in micro]
    if len(set(counts)) > 1:
        assert abs(means - big_loss.item()) > 1e-6


def test_peft_wrapped_model_finds_base_decoder_and_head(tiny_dirs):
    model = _prepare(tiny_dirs["llama"], "lora+head")
    decoder, head = find_decoder_and_head(model)
    assert type(head).__name__ == "ModulesToSaveWrapper"
    assert decoder is model.get_base_model().model
    model2 = copy.deepcopy(model)
    inputs = _packed(_encoded(model.config.vocab_size, seed=9))
    _assert_same(_grads(model2, inputs, causal_lm_loss), _grads(model, inputs, causal_lm_loss))


def test_autocast_forward_keeps_the_loss_only_head(tiny_dirs):
    """Mixed precision: accelerate runs the model's forward under bf16 autocast but not the loss; the model's
    bf16 logits are still the head's, so the loss-only head stays on (it fell back to full logits before)."""
    model = load_tiny(tiny_dirs["qwen2"])
    forward = model.forward

    @functools.wraps(forward)  # as accelerate wraps it
    def autocast_forward(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return forward(*args, **kwargs)

    model.forward = autocast_forward
    inputs = _packed(_encoded(model.config.vocab_size))
    causal_lm_loss(model, inputs)
    assert model._ftcore_loss_only_head_ok is True

"""Packed rows attending one sample at a time (ftcore.training.packed_attention) equal transformers' SDPA."""

from __future__ import annotations

import pytest
import torch

from ftcore.training.packed_attention import NAME, packed_attention, supports_packed_attention

from .conftest import VOCAB, load_tiny

POSITIONS = [list(range(10)) + list(range(25)) + list(range(5)), list(range(40)), list(range(39)) + [0]]


def _batch():
    torch.manual_seed(0)
    return torch.randint(1, VOCAB, (3, 40)), torch.tensor(POSITIONS)


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_packed_logits_and_gradients_equal_sdpa(arch):
    model = load_tiny(arch)
    model.train()
    ids, pos = _batch()

    def run():
        model.zero_grad()
        out = model(input_ids=ids, position_ids=pos, use_cache=False).logits
        out.square().mean().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()]

    ref, ref_grads = run()
    with packed_attention(model) as on:
        assert on and model.config._attn_implementation == NAME
        out, grads = run()
    assert model.config._attn_implementation == "sdpa"  # restored
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-3, atol=1e-5)
    # and every sample sees only itself: the middle sample of row 0 alone gives the same logits
    alone = model(input_ids=ids[:1, 10:35], use_cache=False).logits
    torch.testing.assert_close(out[:1, 10:35], alone.detach(), rtol=1e-4, atol=1e-5)


def test_padded_batches_and_generation_keep_sdpa_masks():
    model = load_tiny("qwen2")
    ids, _ = _batch()
    mask = torch.ones_like(ids)
    mask[0, :7] = 0  # left padding
    ref = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    with packed_attention(model):
        out = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        gen = model.generate(input_ids=ids[:1, :8], max_new_tokens=4, do_sample=False)
    torch.testing.assert_close(out[:, 7:], ref[:, 7:], rtol=1e-4, atol=1e-5)
    assert torch.equal(gen, model.generate(input_ids=ids[:1, :8], max_new_tokens=4, do_sample=False))


def test_only_where_it_is_the_models_own_attention():
    assert supports_packed_attention(load_tiny("qwen2"))
    assert not supports_packed_attention(load_tiny("qwen2", attn="eager"))
    windowed = load_tiny("qwen2")
    for module in windowed.modules():
        if type(module).__name__.endswith("Attention"):
            module.sliding_window = 16
    assert not supports_packed_attention(windowed)
    with packed_attention(windowed) as on:
        assert not on and windowed.config._attn_implementation == "sdpa"
    with packed_attention(load_tiny("qwen2"), enabled=False) as on:
        assert not on


def test_ftcore_trainer_trains_packed_rows_with_it(tmp_path, monkeypatch):
    from transformers import TrainingArguments

    import ftcore.training.packed_attention as packed
    from ftcore.data.packing import PackedCollator, pack_dataset
    from ftcore.training.trainer import FtcoreTrainer

    seen = []
    real = packed._spans
    monkeypatch.setattr(packed, "_spans", lambda p, n: seen.append(1) or real(p, n))
    model = load_tiny("qwen2")
    rows = pack_dataset([{"input_ids": list(range(1, 1 + n)), "labels": list(range(1, 1 + n))} for n in (9, 5, 12, 7)],
                        32, seed=0)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, report_to="none",
                             use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
                             remove_unused_columns=False)
    trainer = FtcoreTrainer(model=model, args=args, train_dataset=rows, data_collator=PackedCollator(pad_token_id=0))
    trainer.train()
    assert seen and model.config._attn_implementation == "sdpa"

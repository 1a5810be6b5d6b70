"""Packing: rows nearly full, every sample once, labels never cross samples, and no attention across samples."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftcore.data.packing import (
    IGNORE_INDEX,
    PackedCollator,
    concat_samples,
    pack_dataset,
    pack_lengths,
    pack_samples,
    packing_efficiency,
)

from .conftest import load_tiny


@given(st.lists(st.integers(1, 300), max_size=200), st.integers(1, 512))
@settings(max_examples=80, deadline=None)
def test_pack_lengths_places_every_sample_once_within_budget(lengths, budget):
    rows = pack_lengths(lengths, budget)
    flat = sorted(i for r in rows for i in r)
    assert flat == list(range(len(lengths)))
    for r in rows:
        total = sum(lengths[i] for i in r)
        assert total <= budget or len(r) == 1
        assert r == sorted(r)


def test_best_fit_rows_are_nearly_full():
    rnd = random.Random(0)
    lengths = [min(1000, int(rnd.lognormvariate(5.0, 0.7))) + 1 for _ in range(400)]
    rows = pack_lengths(lengths, 1024)
    fill = sum(lengths) / (len(rows) * 1024)
    assert fill > 0.95, fill
    assert pack_lengths(lengths, 1024) == rows  # deterministic


def test_concat_restarts_positions_and_cuts_labels_at_boundaries():
    a = {"input_ids": [1, 2, 3], "labels": [1, 2, 3]}  # train_on_prompt-style: first label set
    b = {"input_ids": [4, 5], "labels": [IGNORE_INDEX, 5]}
    row = concat_samples([a, b])
    assert row["input_ids"] == [1, 2, 3, 4, 5]
    assert row["position_ids"] == [0, 1, 2, 0, 1]
    # shifted targets: token 3 (last of a) must not predict 4 (first of b)
    assert row["labels"] == [IGNORE_INDEX, 2, 3, IGNORE_INDEX, 5]


def test_pack_dataset_hf_and_list():
    from datasets import Dataset

    samples = [{"input_ids": list(range(n)), "labels": list(range(n))} for n in (5, 3, 7, 2, 6)]
    rows = pack_dataset(samples, 8, seed=None)
    assert sum(len(r["input_ids"]) for r in rows) == 23
    assert all(len(r["input_ids"]) <= 8 for r in rows)
    assert packing_efficiency(rows, 8) == pytest.approx(23 / (len(rows) * 8))
    ds = pack_dataset(Dataset.from_list(samples), 8, seed=1)
    assert set(ds.column_names) == {"input_ids", "labels", "position_ids"}
    assert sorted(len(r) for r in ds["input_ids"]) == sorted(len(r["input_ids"]) for r in rows)


def test_collator_pads_with_a_separate_sequence_and_no_mask():
    rows = pack_samples([{"input_ids": [7] * n, "labels": [7] * n} for n in (3, 2, 4)], 5)
    batch = PackedCollator(pad_token_id=0)(rows)
    assert "attention_mask" not in batch
    assert batch["input_ids"].shape[1] == 5
    for k, row in enumerate(rows):
        n = len(row["input_ids"])
        assert batch["position_ids"][k, n:].tolist() == list(range(5 - n))
        assert (batch["labels"][k, n:] == IGNORE_INDEX).all()
    flat = PackedCollator(pad_token_id=0, flatten=True)(rows)
    assert flat["input_ids"].shape == (1, 9)
    assert flat["labels"][0].tolist().count(IGNORE_INDEX) == 3
    plain = PackedCollator(pad_token_id=0)([{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8]}])
    assert plain["position_ids"].tolist() == [[0, 1, 2], [0, 0, 1]]  # padding: its own run


def _samples(vocab: int, lengths, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    return [torch.randint(100, vocab - 100, (n,), generator=g).tolist() for n in lengths]


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_logits_equal_logits_alone(tiny_dirs, arch, attn):
    import torch

    model = load_tiny(tiny_dirs[arch], attn)
    seqs = _samples(model.config.vocab_size, [9, 14, 6, 11])
    rows = pack_samples([{"input_ids": s, "labels": s} for s in seqs], 30)
    batch = PackedCollator(pad_token_id=0)(rows)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        for k, row in enumerate(rows):
            starts = [i for i, p in enumerate(row["position_ids"]) if p == 0] + [len(row["input_ids"])]
            for a, b in zip(starts, starts[1:], strict=False):
                alone = model(input_ids=torch.tensor([row["input_ids"][a:b]]), use_cache=False).logits[0]
                torch.testing.assert_close(packed[k, a:b], alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_cache_or_attention_mask_breaks_isolation(tiny_dirs, attn):
    """Why the loss calls the model with use_cache=False and no attention_mask: otherwise samples leak."""
    import torch

    model = load_tiny(tiny_dirs["qwen2"], attn)
    first, second = _samples(model.config.vocab_size, [8, 8], seed=3)
    row = concat_samples([{"input_ids": first}, {"input_ids": second}])
    ids, pos = torch.tensor([row["input_ids"]]), torch.tensor([row["position_ids"]])
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([second]), use_cache=False).logits[0]
        good = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0, 8:]
        cached = model(input_ids=ids, position_ids=pos, use_cache=True).logits[0, 8:]
        masked = model(input_ids=ids, position_ids=pos, attention_mask=torch.ones_like(ids), use_cache=False).logits[0, 8:]
    torch.testing.assert_close(good, alone, atol=1e-4, rtol=1e-4)
    assert (cached - alone).abs().max() > 1e-3
    assert (masked - alone).abs().max() > 1e-3


def test_pack_for_training_follows_the_config():
    from datasets import Dataset

    from ftcore.config import config_from_dict
    from ftcore.data.packing import pack_for_training, packing_length

    ds = Dataset.from_list([{"input_ids": [1] * n, "labels": [1] * n} for n in (30, 20, 10, 40)])
    off = config_from_dict({"data": {"packing": False}})
    assert pack_for_training(off, ds) is ds
    on = config_from_dict({"data": {"packing": True}, "template": {"max_length": 50}})
    assert packing_length(on, ds) == 50
    packed = pack_for_training(on, ds)
    assert "position_ids" in packed.column_names
    assert all(len(r) <= 50 for r in packed["input_ids"])
    assert sum(len(r) for r in packed["input_ids"]) == 100 and len(packed) == 2


def test_resolve_packing_auto_explicit_and_unsupported():
    import torch

    from ftcore.config import config_from_dict
    from ftcore.data.packing import adapt_collator, packing_support, resolve_packing
    from ftcore.errors import FtcoreError

    model = load_tiny("qwen2")
    assert packing_support(model) is None

    class RemoteCodeLM(torch.nn.Module):  # stands in for a trust_remote_code model (builds its own masks)
        config = model.config

    remote = RemoteCodeLM()
    assert "not a transformers-native" in packing_support(remote)

    auto = config_from_dict({})
    assert auto.data.packing == "auto"
    assert resolve_packing(auto, model) is True
    assert resolve_packing(auto, remote) is False
    assert resolve_packing(config_from_dict({"data": {"group_by_length": True}}), model) is False
    assert resolve_packing(config_from_dict({"data": {"lazy": True}}), model) is False
    assert resolve_packing(config_from_dict({"data": {"packing": False}}), model) is False
    with pytest.raises(FtcoreError, match="data.packing"):
        resolve_packing(config_from_dict({"data": {"packing": True}}), remote)

    collator = PackedCollator(pad_token_id=0)
    assert adapt_collator(collator, model).flatten is False
    model.config._attn_implementation = "flash_attention_2"
    assert adapt_collator(collator, model).flatten is True

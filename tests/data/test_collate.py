"""The padding collator and make_collator."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from ftcore.data.collate import DataCollator, make_collator, pad_token_id


def test_right_padding_labels_and_mask():
    batch = DataCollator(pad_token_id=7)([
        {"input_ids": [1, 2, 3], "labels": [-100, 2, 3], "length": 3},
        {"input_ids": [4], "labels": [4]},
    ])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["input_ids"].dtype == torch.long


def test_pad_to_multiple_of():
    batch = DataCollator(pad_token_id=0, pad_to_multiple_of=8)([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}])
    assert batch["input_ids"].shape == (1, 8) and batch["attention_mask"].sum() == 3


def test_pad_token_falls_back_to_eos():
    assert pad_token_id(SimpleNamespace(pad_token_id=None, eos_token_id=5)) == 5
    assert pad_token_id(SimpleNamespace(pad_token_id=3, eos_token_id=5)) == 3


def test_make_collator_follows_packing():
    tok = SimpleNamespace(pad_token_id=0, eos_token_id=1)
    plain = make_collator(SimpleNamespace(data=SimpleNamespace(packing=False)), tok)
    assert "attention_mask" in plain([{"input_ids": [1], "labels": [1]}])
    packed = make_collator(SimpleNamespace(data=SimpleNamespace(packing=True)), tok)
    out = packed([{"input_ids": [1, 2], "labels": [1, 2]}])
    assert "position_ids" in out and "attention_mask" not in out

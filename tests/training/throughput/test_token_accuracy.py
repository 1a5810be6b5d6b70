"""Token accuracy (``acc``): counted on label positions only, the same from the loss-only head (chunked logits,
fused or generic head) as from full logits; logged next to the loss in training and as ``eval_acc``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ftcore.training.loss import IGNORE_INDEX, causal_lm_loss, find_decoder_and_head, token_accuracy

from .conftest import VOCAB, load_tiny


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB - 5, (3, 17), generator=g)
    labels = ids.clone()
    labels[:, :6] = IGNORE_INDEX  # prompts
    labels[2, 12:] = IGNORE_INDEX  # padding of the last row
    mask = torch.ones_like(ids)
    mask[2, 12:] = 0
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _expected(model, inputs) -> tuple[int, int]:
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, :-1]
    targets = inputs["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    return int((logits.argmax(-1)[keep] == targets[keep]).sum()), int(keep.sum())


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_accuracy_from_the_loss_only_head_equals_full_logits(arch):
    model = load_tiny(arch)
    inputs = _batch()
    correct, total = _expected(model, inputs)
    assert total == 11 + 11 + 6  # label positions only: prompts and padding left out
    for loss_only in (True, False):
        stats: dict = {}
        causal_lm_loss(model, inputs, loss_only_head=loss_only, chunk_tokens=5, stats=stats)
        assert stats["total"] == total
        assert int(stats["correct"]) == correct
        assert token_accuracy(stats) == pytest.approx(correct / total)


def test_accuracy_counts_a_perfect_head():
    """A head whose argmax is always the label gives acc 1.0; the counts accumulate over calls."""
    model = load_tiny("llama")
    inputs = _batch()
    with torch.no_grad():
        logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    inputs["labels"] = torch.where(inputs["labels"] == IGNORE_INDEX, inputs["labels"],
                                   torch.cat([inputs["labels"][:, :1], logits.argmax(-1)[:, :-1]], dim=1))
    stats: dict = {}
    causal_lm_loss(model, inputs, stats=stats)
    causal_lm_loss(model, inputs, stats=stats)
    n = int((inputs["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert stats["total"] == 2 * n and token_accuracy(stats) == 1.0


def test_generic_head_path_counts_too(monkeypatch):
    import ftcore.training.loss as loss_mod

    model = load_tiny("llama")
    inputs = _batch(1)
    correct, total = _expected(model, inputs)
    monkeypatch.setattr(loss_mod, "_plain_linear", lambda head: None)  # force the module-call path
    stats: dict = {}
    causal_lm_loss(model, inputs, chunk_tokens=4, stats=stats)
    assert (int(stats["correct"]), stats["total"]) == (correct, total)
    assert find_decoder_and_head(model)  # the loss-only path was taken (not the full-logits fallback)


def test_no_label_no_accuracy():
    assert token_accuracy({}) is None


@pytest.mark.slow
def test_training_and_eval_log_acc(tmp_path):
    from ftcore.training import train

    rows = [{"query": f"q{i}", "response": "The secret word is pineapple."} for i in range(12)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train({
        "model": {"name": "ftcore-tiny-qwen2"},
        "template": {"max_length": 64},
        "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.25, "packing": False},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0},
        "train": {"max_steps": 4, "batch_size": 2, "lr": 5e-3, "logging_steps": 1, "eval_steps": 4,
                  "report_to": [], "dataloader_num_workers": 0},
        "output": {"dir": str(tmp_path / "out")},
    })
    records = [json.loads(x) for x in Path(result.output_dir, "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in records if "loss" in r]
    assert train_logs and all(0.0 <= r["acc"] <= 1.0 for r in train_logs)
    evals = [r for r in records if "eval_loss" in r]
    assert evals and all(0.0 <= r["eval_acc"] <= 1.0 for r in evals)

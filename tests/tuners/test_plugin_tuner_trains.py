"""A third-party tuning method trains end to end: the ``bias-only`` tuner of docs/plugins.md ("Shipping a tuner"),
loaded as a local plugin file named in the run config, trains the tiny model a few steps through ``ftcore.train``;
the loss is finite and only the parameters the tuner left trainable changed."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ftcore.config import config_from_dict


def test_bias_only_tuner_from_the_docs_trains(tuner_file: Path, tmp_path: Path) -> None:
    import torch

    import ftcore

    rows = [{"query": f"What is {i} plus one?", "response": f"{i} plus one is {i + 1}."} for i in range(16)]
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config_from_dict(
        {
            "plugins": ["./my_tuner.py"],
            "model": {"name": "ftcore-tiny-qwen2"},
            "template": {"max_length": 48},
            "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.0, "packing": False, "sample": -1},
            "tuner": {"method": "bias-only", "train_norms": True},
            "train": {"max_steps": 4, "batch_size": 4, "grad_accum": 1, "lr": 1e-2, "logging_steps": 1,
                      "dataloader_num_workers": 0, "warmup_ratio": 0.0},
            "output": {"dir": str(tmp_path / "out")},
        },
        base_dir=str(tmp_path),
    )
    before = cfg.model_dump()
    result = ftcore.train(cfg)
    assert cfg.model_dump() == before

    records = [json.loads(x) for x in Path(result.output_dir, "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses and all(math.isfinite(x) for x in losses)

    base, _ = ftcore.get_model_tokenizer("ftcore-tiny-qwen2", dtype="fp32")
    original = dict(base.named_parameters())
    trained = dict(result.model.named_parameters())
    assert set(trained) == set(original)
    intended = {n for n in trained if n.endswith(".bias") or "norm" in n}
    assert {n for n, p in trained.items() if p.requires_grad} == intended
    changed = {n for n, p in trained.items() if not torch.equal(p.detach().cpu().float(), original[n].float())}
    assert changed <= intended, sorted(changed - intended)
    assert any(n.endswith("v_proj.bias") for n in changed) and any("norm" in n for n in changed)
    run_toml = (Path(result.output_dir) / "run.toml").read_text()
    assert 'method = "bias-only"' in run_toml and "train_norms = true" in run_toml

"""Preference pairs and run settings for the stage tests (tiny Qwen2 from the catalog, LoRA)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PAIRS = [{"prompt": f"question {i}: " + "word " * (i % 5), "chosen": f"yes, gladly {i}.",
          "rejected": "no " * (1 + i % 3)} for i in range(32)]


@pytest.fixture(scope="session")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in PAIRS), encoding="utf-8")
    return str(path)


def dpo_run(pairs: str, out: str | Path, **sections: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model": {"name": "ftcore-tiny-qwen2", "dtype": "fp32"},
        "template": {"max_length": 48},
        "data": {"datasets": [{"path": pairs}], "test_ratio": 0.25, "sample": -1},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj"]},
        "train": {"stage": "dpo", "max_steps": 4, "batch_size": 4, "grad_accum": 1, "eval_steps": 100,
                  "logging_steps": 1, "save_steps": 2, "save_total_limit": -1, "dataloader_num_workers": 0,
                  "report_to": [], "lr": 5e-3, "warmup_ratio": 0.0},
        "dpo": {"beta": 0.1},
        "output": {"dir": str(out)},
    }
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg

"""Train on memorizable data with ``ftcore.train``, then every inference path reproduces the trained answer greedily."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

QUERY = "what is the secret word?"
ANSWER = "the secret word is pineapple"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    import ftcore

    work = tmp_path_factory.mktemp("e2e")
    data = work / "memorize.jsonl"
    data.write_text(json.dumps({"query": QUERY, "response": ANSWER}) + "\n", encoding="utf-8")
    result = ftcore.train(
        {
            "model": {"path": tiny_model_dir},
            "template": {"name": "chatml", "max_length": 64},
            "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.0, "sample": -1},
            "tuner": {"method": "lora", "rank": 8, "alpha": 16, "dropout": 0.0, "targets": "all"},
            "train": {
                "max_steps": 12,
                "batch_size": 4,
                "grad_accum": 1,
                "lr": 1e-2,
                "warmup_ratio": 0.0,
                "eval_steps": 12,
                "logging_steps": 4,
                "report_to": [],
                "dataloader_num_workers": 0,
            },
            "output": {"dir": str(work / "output")},
        }
    )
    assert result.best_checkpoint is not None
    return work / "output"


@pytest.mark.slow
def test_infer_reproduces_the_trained_answer(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore.cli import main
    from ftcore.inference import infer, inference, inference_stream, load_checkpoint

    model, tokenizer, template, cfg = load_checkpoint(f"latest:{trained}")
    assert cfg.template.name == "chatml"
    assert inference(model, template, QUERY, do_sample=False, max_new_tokens=16) == ANSWER
    assert "".join(inference_stream(model, template, QUERY, do_sample=False, max_new_tokens=16)) == ANSWER
    assert infer(f"best:{trained}", QUERY, do_sample=False, max_new_tokens=16) == ANSWER

    assert main(["infer", f"latest:{trained}", "--query", QUERY, "--greedy", "--max-new-tokens", "16"]) == 0
    assert capsys.readouterr().out == ANSWER + "\n"

"""Dataset mode: the run's validation samples with query, prediction and reference (ms-swift's show_dataset_sample)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from ftcore.cli import main

GREEDY = ["--greedy", "--max-new-tokens", "6"]


@pytest.fixture
def recorded(loaded, make_recording, monkeypatch: pytest.MonkeyPatch) -> Any:
    import ftcore.inference.main as main_module

    model, tokenizer, template, cfg = loaded
    rec = make_recording(template)
    monkeypatch.setattr(main_module, "load_checkpoint", lambda path: (model, tokenizer, rec, cfg))
    return rec


def test_dataset_mode_shows_query_prediction_reference(
    recorded: Any, lora_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["infer", str(lora_ckpt), "--dataset-sample", "2", *GREEDY]) == 0
    out = capsys.readouterr().out
    assert out.count("[PROMPT]") == 2 and out.count("[OUTPUT]") == 2 and out.count("[LABELS]") == 2
    assert "<|im_start|>user\nwhat is the capital of france?<|im_end|>\n<|im_start|>assistant\n" in out
    assert "[LABELS] paris" in out


def test_infer_main_returns_records(recorded: Any, lora_ckpt: Path) -> None:
    from ftcore.inference import infer_main

    buf = io.StringIO()
    records = infer_main(lora_ckpt, dataset_sample=3, out=buf, do_sample=False, max_new_tokens=4)
    assert [r["reference"] for r in records] == ["paris", "4", "blue"]
    assert all(set(r) == {"prompt", "response", "reference"} for r in records)
    records = infer_main(lora_ckpt, ["a", "b"], out=buf, stream=False, do_sample=False, max_new_tokens=4)
    assert [r["query"] for r in records] == ["a", "b"]


def test_defaults_come_from_the_runs_infer_section(recorded: Any, lora_ckpt: Path) -> None:
    from ftcore.inference import infer_main

    buf = io.StringIO()
    records = infer_main(lora_ckpt, out=buf, do_sample=False, max_new_tokens=2)  # [infer] show_samples = 10
    assert len(records) == 3  # every validation row
    assert "[PROMPT]" in buf.getvalue()

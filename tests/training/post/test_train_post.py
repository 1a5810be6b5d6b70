"""One tiny run with eval.predict_with_generate, overwrite_generation_config and hub pushes (a faked Hugging Face
client): rouge-l picks the best checkpoint, the run.toml token reaches the client and is written nowhere; then
``ftcore eval``, ``ftcore push`` (local folder) and ``ftcore infer --merge`` on the result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROWS = [{"query": "what is the secret word?", "response": "the secret word is pineapple"}]  # = conftest

TOKEN = "hf_runTomlSecret987"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str, data_file: str) -> dict[str, Any]:
    import huggingface_hub
    import tomli_w

    import ftcore

    work = tmp_path_factory.mktemp("post-train")
    remote = work / "remote"
    calls: list[dict[str, Any]] = []

    class FakeHfApi:  # the real client up to the network: records arguments, "uploads" into a folder
        def __init__(self, token: str | None = None) -> None:
            calls.append({"token": token})

        def create_repo(self, **kw: Any) -> Any:
            calls.append({"create_repo": kw})
            return SimpleNamespace(repo_id="me/" + kw["repo_id"])

        def upload_folder(self, **kw: Any) -> None:
            calls.append({"upload": kw["path_in_repo"], "message": kw["commit_message"]})
            shutil.copytree(kw["folder_path"], remote / (kw["path_in_repo"] or ""), dirs_exist_ok=True)

        def file_exists(self, repo_id: str, path: str) -> bool:
            return (remote / path).is_file()

    run_toml = work / "run.toml"
    run_toml.write_text(tomli_w.dumps({
        "model": {"path": tiny_model_dir},
        "template": {"name": "chatml", "max_length": 64},
        "data": {"datasets": [{"path": data_file}], "validation": [{"path": data_file}], "test_ratio": 0.0,
                 "sample": -1},
        "tuner": {"method": "lora", "rank": 8, "alpha": 16, "dropout": 0.0, "targets": "all"},
        "train": {"max_steps": 12, "batch_size": 4, "grad_accum": 1, "lr": 1e-2, "warmup_ratio": 0.0,
                  "eval_steps": 4, "logging_steps": 4, "report_to": [], "dataloader_num_workers": 0,
                  "save_total_limit": -1},
        "generation": {"max_new_tokens": 8, "do_sample": False},
        "eval": {"predict_with_generate": True, "overwrite_generation_config": True},
        "hub": {"push": True, "hub": "huggingface", "strategy": "push_best", "token": TOKEN},
        "output": {"dir": str(work / "output")},
    }), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub, "HfApi", FakeHfApi)
        mp.delenv("HF_TOKEN", raising=False)
        # an override rebuilds the config from a dump (which never holds the token): the token must survive
        result = ftcore.train(str(run_toml), ["train.logging_steps=2"])
    return {"result": result, "calls": calls, "remote": remote, "work": work}


@pytest.mark.slow
def test_rouge_l_picks_the_best_checkpoint_and_pushes(trained: dict[str, Any], capfd: pytest.CaptureFixture[str]
                                                        ) -> None:
    result, calls, remote = trained["result"], trained["calls"], trained["remote"]
    run = Path(result.output_dir)
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if "eval_rouge-l" in r]
    assert [r["step"] for r in evals] == [4, 8, 12]
    assert all({"eval_rouge-1", "eval_rouge-2", "eval_bleu-4", "eval_loss"} <= set(r) for r in evals)
    best = max(evals, key=lambda r: (r["eval_rouge-l"], -r["step"]))  # higher is better, ties keep the earlier
    assert Path(str(result.best_checkpoint)).name == f"checkpoint-{best['step']}"
    state = json.loads((run / "checkpoint-12" / "trainer_state.json").read_text())
    assert state["best_metric"] == pytest.approx(best["eval_rouge-l"])
    assert evals[-1]["eval_rouge-l"] > 50  # memorized: the generated answer matches the reference

    gen = json.loads((run / "checkpoint-4" / "generation_config.json").read_text())
    assert gen["max_new_tokens"] == 8 and gen["do_sample"] is False

    # push_best: a checkpoint goes up only when it is the best so far; the final model and the card at the end
    tokens = {c["token"] for c in calls if "token" in c}
    assert tokens == {TOKEN}  # the run.toml token reached the client
    create = [c["create_repo"] for c in calls if "create_repo" in c]
    assert create[0]["private"] is True and create[0]["repo_id"].endswith("-lora")
    messages = [c["message"] for c in calls if "upload" in c]
    improving = [r["step"] for i, r in enumerate(evals)
                 if all(r["eval_rouge-l"] > e["eval_rouge-l"] for e in evals[:i])]
    assert messages == [f"Training in progress, step {s}" for s in improving] + [
        "End of training", "update model card README.md"]
    assert (remote / "adapter_model.safetensors").is_file() and (remote / "README.md").is_file()

    # the token is written nowhere: output folder, pushed files, logs
    for folder in (run, remote):
        for path in folder.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path
    out = capfd.readouterr()
    assert TOKEN not in out.out and TOKEN not in out.err


@pytest.mark.slow
def test_eval_push_and_infer_merge_after_training(trained: dict[str, Any], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore.cli import main

    best = trained["result"].best_checkpoint
    report_file = tmp_path / "report.json"
    assert main(["eval", best, "--sample", "1", "--out", str(report_file)]) == 0
    report = json.loads(report_file.read_text())
    assert report["samples"] == 1 and set(report["metrics"]) == {"rouge-1", "rouge-2", "rouge-l", "bleu-4"}
    record = report["records"][0]
    assert record["reference"] == ROWS[0]["response"] and "prediction" in record and "rouge-l" in record

    assert main(["push", best, "--hub", "local", "--local-dir", str(tmp_path / "shared"), "--model-id", "x"]) == 0
    pushed = tmp_path / "shared" / "x"
    assert (pushed / "adapter_model.safetensors").is_file() and (pushed / "README.md").is_file()
    assert not (pushed / "optimizer.pt").exists()

    capsys.readouterr()
    assert main(["infer", best, "--merge", "--query", ROWS[0]["query"], "--greedy", "--max-new-tokens", "8",
                 "--no-stream"]) == 0
    assert Path(best + "-merged", "model.safetensors").is_file()
    assert capsys.readouterr().out.strip() == record["prediction"]

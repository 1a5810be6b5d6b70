"""``train.report_to``: each tracker runs a tiny 3-step training offline (its local store in the run folder) and its
store, read back with the tracker's own files, holds exactly what metrics.jsonl holds, plus the run config with
no secret in it. All but TensorBoard (the default) are ``slow``: importing a tracker and starting its run takes
5-40 s on a shared CPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict
from tests.training.trackers.stores import (
    aim_store,
    expected_series,
    mlflow_store,
    swanlab_store,
    tensorboard_store,
    trackio_store,
    wandb_store,
)

ROWS = [{"query": f"question {i}?", "response": f"answer {i}."} for i in range(12)]
SECRET = "hf_trackersSECRETtoken1234"
#: the Trainer's one-off summary of the whole run (its last log record): trackers keep it apart from the series
SUMMARY = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos"}
#: the environment variables ftcore may set for a tracker (cleared so that each test sees ftcore's defaults)
TRACKER_VARIABLES = ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME",
                     "MLFLOW_ALLOW_FILE_STORE", "SWANLAB_MODE", "SWANLAB_LOG_DIR", "TRACKIO_DIR")


def run_training(tmp: Path, report_to: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 3-step LoRA run of the tiny model logging every step, evaluating at steps 2 and 3; its run folder."""
    from ftcore.training import train

    for var in TRACKER_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setattr(sys, "argv", ["ftcore", "train", "run.toml", "--set", f"hub.token={SECRET}"])
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cfg = config_from_dict({
        "model": {"name": "ftcore-tiny-qwen2"},
        "template": {"max_length": 48},
        "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.25},
        "tuner": {"method": "lora"},
        "train": {"max_steps": 3, "batch_size": 2, "grad_accum": 1, "eval_steps": 2, "logging_steps": 1,
                  "report_to": report_to, "dataloader_num_workers": 0},
        "hub": {"token": SECRET},
        "output": {"dir": str(tmp / "out")},
    }, base_dir=str(tmp))
    result = train(cfg)
    return Path(result.output_dir)


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def assert_same_series(logged: dict[str, dict[int, float]], run_dir: Path, *, summary: bool) -> None:
    """``logged`` holds every metrics.jsonl value at its step (the one-off summary too when ``summary``) and
    nothing else."""
    expected = expected_series(records(run_dir))
    if not summary:
        expected = {k: v for k, v in expected.items() if k not in SUMMARY}
    assert {"loss", "eval_loss", "learning_rate", "acc", "eval_acc", "tokens_per_second"} <= set(expected)
    assert set(logged) == set(expected)
    for key, steps in expected.items():
        assert set(logged[key]) == set(steps), key
        for step, value in steps.items():
            assert logged[key][step] == pytest.approx(value, rel=1e-5, abs=1e-7), (key, step)


def assert_no_secret(run_dir: Path) -> None:
    """The token is in no file of the run folder (tracker stores included, binary ones too)."""
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def assert_run_config(config: dict[str, Any], run_dir: Path) -> None:
    """The logged ``ftcore`` config is the run's (run.toml's values), its secret absent or redacted."""
    import tomllib

    run_toml = tomllib.loads((run_dir / "run.toml").read_text())
    assert config["train"]["max_steps"] == run_toml["train"]["max_steps"] == 3
    assert config["model"] == run_toml["model"] and config["tuner"]["method"] == "lora"
    assert config.get("hub", {}).get("token") in (None, "***")
    assert SECRET not in json.dumps(config)


@pytest.mark.slow
def test_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = run_training(tmp_path, ["wandb"], monkeypatch)
    series, config, summary = wandb_store(run_dir)  # <run>/wandb/offline-run-*: offline, in the run folder
    assert_same_series(series, run_dir, summary=False)
    final = records(run_dir)[-1]
    for key in SUMMARY:  # the one-off values: in the run's summary
        assert summary[key] == pytest.approx(final[key], rel=1e-5), key
    assert_run_config(config["ftcore"]["value"] if "value" in config["ftcore"] else config["ftcore"], run_dir)
    assert_no_secret(run_dir)


@pytest.mark.slow
def test_mlflow_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = run_training(tmp_path, ["mlflow"], monkeypatch)
    series, params, artifact = mlflow_store(run_dir)  # file:<run>/mlruns
    assert_same_series(series, run_dir, summary=True)
    assert_run_config(artifact["ftcore"], run_dir)
    assert params["ftcore.train.max_steps"] == "3" and "ftcore.hub.token" not in params
    assert_no_secret(run_dir)


@pytest.mark.slow
def test_swanlab_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = run_training(tmp_path, ["swanlab"], monkeypatch)
    series, config = swanlab_store(run_dir)  # <run>/swanlog/run-*
    assert_same_series(series, run_dir, summary=True)
    assert_run_config(config["ftcore"], run_dir)
    assert_no_secret(run_dir)


@pytest.mark.slow
def test_trackio_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = run_training(tmp_path, ["trackio"], monkeypatch)
    series, config = trackio_store(run_dir)  # <run>/trackio/ftcore.db
    assert_same_series(series, run_dir, summary=False)
    assert_run_config(config["ftcore"], run_dir)
    assert_no_secret(run_dir)


@pytest.mark.slow
def test_aim_repo_in_the_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = run_training(tmp_path, ["aim"], monkeypatch)
    series, config = aim_store(run_dir)  # <run>/.aim
    assert_same_series(series, run_dir, summary=True)
    assert_run_config(config, run_dir)
    assert_no_secret(run_dir)


def test_tensorboard_and_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = run_training(tmp_path / "tb", ["tensorboard"], monkeypatch)
    series, text = tensorboard_store(run_dir)
    assert_same_series(series, run_dir, summary=True)
    assert_run_config(json.loads(text.split("```json\n", 1)[1].rsplit("\n```", 1)[0]), run_dir)
    assert_no_secret(run_dir)
    for name in ("loss", "lr", "acc", "eval", "train"):  # every logged scalar drawn (no reward in SFT)
        assert (run_dir / f"{name}.png").is_file(), name
    quiet = run_training(tmp_path / "none", ["none"], monkeypatch)
    assert not (quiet / "logs").exists() and records(quiet)
    assert not any((quiet / name).exists() for name in ("wandb", "mlruns", "swanlog", "trackio", ".aim"))

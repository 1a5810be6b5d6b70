"""A tiny random Qwen2 model and a small query/response file, built once per session, and run-file helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROWS = [{"query": f"question {i}: " + "word " * (i % 9), "response": f"answer {i} " + "reply " * (i % 5)}
        for i in range(48)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("scale-model") / "tiny", arch="qwen2")


@pytest.fixture(scope="session")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("scale-data") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return str(path)


def run_dict(model_dir: str, data_file: str, out: str | Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A small LoRA run: 4 rows a step, no TensorBoard, evaluation only where asked."""
    cfg: dict[str, Any] = {
        "model": {"path": model_dir},
        "template": {"name": "chatml", "max_length": 48},
        "data": {"datasets": [{"path": data_file}], "test_ratio": 0.0, "sample": -1},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj"]},
        "train": {"max_steps": 3, "batch_size": 2, "grad_accum": 1, "eval_steps": 100, "logging_steps": 1,
                  "dataloader_num_workers": 0, "report_to": [], "lr": 1e-3, "warmup_ratio": 0.0},
        "output": {"dir": str(out)},
    }
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def subprocess_env() -> dict[str, str]:
    """The test environment for child processes: built-in plugins only, one thread each, src importable."""
    env = dict(os.environ)
    env["FTCORE_LOAD_PLUGINS"] = ""
    env["OMP_NUM_THREADS"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.pop("RANK", None)
    env.pop("LOCAL_RANK", None)
    return env


def run_ftcore(args: list[str], timeout: int = 280) -> subprocess.CompletedProcess[str]:
    """``python -m ftcore ARGS`` in a child process; fails the test with its output when it fails."""
    proc = subprocess.run([sys.executable, "-m", "ftcore", *args], env=subprocess_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    from ftcore import plugins

    monkeypatch.setenv("FTCORE_LOAD_PLUGINS", "")
    plugins.reset()
    yield
    plugins.reset()

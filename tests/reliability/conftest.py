"""A tiny random Qwen2 model, a small data file and run-file helpers for the fault and security tests; the CLI
helpers of the bad-input corpus (run the real CLI in-process, check that every message is one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROWS = [{"query": f"question {i}: " + "word " * (i % 7), "response": f"answer {i} " + "reply " * (i % 4)}
        for i in range(24)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("rel-model") / "tiny", arch="qwen2")


@pytest.fixture(scope="session")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("rel-data") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return str(path)


def run_dict(model_dir: str, data_file: str, out: str | Path, **sections: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model": {"path": model_dir},
        "template": {"name": "chatml", "max_length": 32},
        "data": {"datasets": [{"path": data_file}], "test_ratio": 0.0, "sample": -1},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj"]},
        "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 1, "eval_steps": 100, "logging_steps": 1,
                  "save_steps": 2, "save_total_limit": -1, "dataloader_num_workers": 0, "report_to": [],
                  "lr": 1e-3, "warmup_ratio": 0.0},
        "output": {"dir": str(out)},
    }
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"FTCORE_LOAD_PLUGINS": "", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **extra})
    env.pop("RANK", None)
    env.pop("LOCAL_RANK", None)
    return env


def ftcore(args: list[str], timeout: int = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``python -m ftcore ARGS`` in a child process (not checked)."""
    return subprocess.run([sys.executable, "-m", "ftcore", *args], env=kw.pop("env", None) or subprocess_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def run_dirs(out: Path) -> list[Path]:
    base = out / "tiny"
    return sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: int(p.name[1:].split("-")[0]))


@pytest.fixture(autouse=True)
def builtin_plugins_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    from ftcore import plugins

    monkeypatch.setenv("FTCORE_LOAD_PLUGINS", "")
    plugins.reset()
    yield
    plugins.reset()


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """``ftcore ARGV`` in-process: (exit status, stdout, stderr)."""
    from ftcore.cli import main

    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def error_lines(err: str) -> list[str]:
    """The ``error: …`` lines of stderr; asserts no traceback and nothing but one-line errors and log lines."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines, err
    return lines


@pytest.fixture
def cli(capsys: Any):  # type: ignore[no-untyped-def]
    def call(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    return call

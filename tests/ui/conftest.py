"""Fixtures of the ``ftcore ui`` tests: the app on a temporary folder, a stand-in for ``python -m ftcore train``,
and a LoRA checkpoint of a tiny random model in the layout ``ftcore train`` writes."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: ``python -m ftcore train FILE`` in miniature: creates output/tiny/v0-x (lock with its pid, run.toml), logs a loss
#: per step with a progress bar, and on SIGTERM writes checkpoint-<step> and exits 143 as ftcore does
FAKE_TRAIN = """\
#!{python}
import json, os, signal, sys, time
from pathlib import Path

assert sys.argv[1:4] == ["-m", "ftcore", "train"], sys.argv
run = Path("output/tiny/v0-20261130-120000")
run.mkdir(parents=True)
(run / ".ftcore.lock").write_text(json.dumps({{"pid": os.getpid(), "host": os.uname().nodename}}))
(run / "run.toml").write_text(Path(sys.argv[4]).read_text())
step = 0

def save(*_):
    (run / f"checkpoint-{{step}}").mkdir()
    (run / "checkpoints.json").write_text(json.dumps({{"best": f"checkpoint-{{step}}", "last": f"checkpoint-{{step}}"}}))
    (run / ".ftcore.lock").unlink()
    print("stopped: checkpoint saved", flush=True)
    sys.exit(143)

signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("FAKE_IGNORE_TERM") else save)
total = int(os.environ.get("FAKE_STEPS", "1000"))
while step < total:
    step += 1
    with (run / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({{"step": step, "loss": 5.0 / step}}) + "\\n")
    print(f"train: {{step}}/{{total}} [00:01<00:01]", flush=True)
    time.sleep(0.05)
(run / "checkpoint-{{}}".format(step)).mkdir()
(run / "result.json").write_text(json.dumps({{"metrics": {{"last_loss": 5.0 / step}}}}))
(run / ".ftcore.lock").unlink()
"""


@pytest.fixture
def fake_python(tmp_path: Path) -> str:
    path = tmp_path / "fake-python"
    path.write_text(textwrap.dedent(FAKE_TRAIN).format(python=sys.executable), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def ui_root(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


@pytest.fixture
def client(ui_root: Path, fake_python: str) -> Any:
    from starlette.testclient import TestClient

    from ftcore.ui.app import create_app

    with TestClient(create_app(ui_root, python=fake_python)) as c:
        yield c


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Any) -> Path:
    """``<root>/output/tiny/v0-20261128-101500/checkpoint-2``: a LoRA adapter on a tiny Qwen2, its tokenizer and
    ftcore_run.toml; returns the root."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ftcore.config import config_from_dict, config_to_toml
    from ftcore.testing import qwen25_tokenizer

    model_dir = tiny_model_dir("qwen2")
    root = tmp_path_factory.mktemp("ui-runs")
    run = root / "output" / "tiny" / "v0-20261128-101500"
    ckpt = run / "checkpoint-2"
    data = {
        "model": {"path": model_dir},
        "template": {"name": "chatml", "max_length": 256},
        "data": {"datasets": ["self-cognition-mini"]},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]},
        "generation": {"max_new_tokens": 8, "do_sample": False},
    }
    torch.manual_seed(1)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                      task_type="CAUSAL_LM")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora)
    model.save_pretrained(ckpt, safe_serialization=True)
    qwen25_tokenizer().save_pretrained(ckpt)
    text = config_to_toml(config_from_dict(data))
    (ckpt / "ftcore_run.toml").write_text(text, encoding="utf-8")
    (run / "run.toml").write_text(text, encoding="utf-8")
    (run / "checkpoints.json").write_text(json.dumps({"best": "checkpoint-2", "last": "checkpoint-2"}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 2, "loss": 1.5}) + "\n")
    os.utime(run / "run.toml")
    return root

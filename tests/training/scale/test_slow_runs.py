"""Real runs on tiny models (slow): QLoRA 4/8-bit, DDP with 2 processes, DeepSpeed ZeRO-2/3 with 2 processes,
and a run killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_dict, run_ftcore, subprocess_env, write_toml

pytestmark = pytest.mark.slow


def _metrics(run_dir: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(run_dir, "metrics.jsonl").read_text().splitlines()]


def _run_dir(out: Path) -> Path:
    runs = sorted(p for p in (out / "tiny").iterdir() if p.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.parametrize("bits", [4, 8])
def test_qlora_train_save_infer(tiny_model: str, data_file: str, tmp_path: Path, bits: int) -> None:
    from ftcore.inference import inference, load_checkpoint
    from ftcore.training import train

    cfg = run_dict(tiny_model, data_file, tmp_path / "out", train={"max_steps": 2},
                   tuner={"method": "qlora" if bits == 4 else "lora"},
                   model={"path": tiny_model, "quantization": {"bits": bits}})
    result = train(cfg)
    ckpt = Path(result.last_checkpoint)
    assert (ckpt / "adapter_model.safetensors").is_file()
    assert f"bits = {bits}" in (ckpt / "ftcore_run.toml").read_text()
    model, _tokenizer, template, _cfg = load_checkpoint(str(ckpt))
    base = model.get_base_model()
    assert getattr(base, f"is_loaded_in_{bits}bit")
    answer = inference(model, template, "question 1", max_new_tokens=4, do_sample=False)
    assert isinstance(answer, str)


def test_ddp_two_processes(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, out, train={"max_steps": 2}))
    proc = run_ftcore(["train", str(run), "--nproc-per-node", "2"])
    assert proc.stdout.count("output: ") == 1  # only rank 0 reports
    run_dir = _run_dir(out)
    records = [r for r in _metrics(run_dir) if "loss" in r]
    assert [r["step"] for r in records] == [1, 2]  # rank 0 alone writes metrics
    for name in ("manifest.json", "run.toml", "loss.png", "result.json", "checkpoints.json"):
        assert (run_dir / name).is_file(), name
    ckpt = run_dir / "checkpoint-2"
    assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors"} <= {p.name for p in ckpt.iterdir()}
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["global_step"] == 2


@pytest.mark.parametrize("preset", ["zero2", "zero3"])
def test_deepspeed_two_processes(tiny_model: str, data_file: str, tmp_path: Path, preset: str) -> None:
    out = tmp_path / "out"
    method = "full" if preset == "zero3" else "lora"
    run = write_toml(tmp_path / "run.toml", run_dict(
        tiny_model, data_file, out, train={"max_steps": 2, "deepspeed": preset}, tuner={"method": method}))
    run_ftcore(["train", str(run), "--nproc-per-node", "2"], timeout=600)
    run_dir = _run_dir(out)
    ckpt = run_dir / "checkpoint-2"
    names = {p.name for p in ckpt.iterdir()}
    if method == "full":  # ZeRO-3: every rank gathered its shards, rank 0 wrote whole weights
        assert "model.safetensors" in names
        from safetensors.torch import load_file

        weights = load_file(str(ckpt / "model.safetensors"))
        assert all(t.numel() > 0 for t in weights.values())
    else:
        assert "adapter_model.safetensors" in names
    assert not any(n.startswith("global_step") for n in names)  # only_save_model: true with DeepSpeed


def _train_script(tmp_path: Path, kill_at: int | None) -> Path:
    """A child process that trains and, at step ``kill_at``, SIGKILLs itself (no cleanup, no final save)."""
    script = tmp_path / f"child_{kill_at}.py"
    script.write_text(f"""
import os, signal, sys
from transformers import TrainerCallback
from ftcore.training import trainer as trainer_module
from ftcore.training import train

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if {kill_at!r} is not None and state.global_step == {kill_at!r}:
            os.kill(os.getpid(), signal.SIGKILL)

real_init = trainer_module.FtcoreTrainer.__init__
def init(self, *a, **k):
    real_init(self, *a, **k)
    self.add_callback(Kill())
trainer_module.FtcoreTrainer.__init__ = init
train(sys.argv[1], sys.argv[2:])
""")
    return script


def test_kill_and_resume_matches_an_uninterrupted_run(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    settings = {"max_steps": 6, "save_steps": 2, "eval_steps": 100, "save_total_limit": -1}
    env = subprocess_env()

    # uninterrupted
    full = write_toml(tmp_path / "full.toml", run_dict(tiny_model, data_file, tmp_path / "full", train=settings))
    proc = subprocess.run([sys.executable, str(_train_script(tmp_path, None)), str(full)], env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    reference = [r["loss"] for r in _metrics(_run_dir(tmp_path / "full")) if "loss" in r]

    # killed at step 5 (last checkpoint: step 4), then resumed from "latest"
    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, tmp_path / "out", train=settings))
    proc = subprocess.run([sys.executable, str(_train_script(tmp_path, 5)), str(run)], env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-4000:]
    killed = _run_dir(tmp_path / "out")
    assert (killed / "checkpoint-4").is_dir() and not (killed / "checkpoint-6").exists()
    proc = subprocess.run([sys.executable, str(_train_script(tmp_path, None)), str(run),
                           "train.resume_from_checkpoint=latest"], env=env, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    resumed_dir = max((p for p in (tmp_path / "out" / "tiny").iterdir() if p != killed), key=lambda p: p.name)
    resumed = {r["step"]: r["loss"] for r in _metrics(resumed_dir) if "loss" in r}
    assert sorted(resumed) == [5, 6]
    assert resumed[6] == pytest.approx(reference[5], rel=1e-4, abs=1e-5)
    assert resumed[5] == pytest.approx(reference[4], rel=1e-4, abs=1e-5)
    manifest = json.loads((resumed_dir / "manifest.json").read_text())
    assert "checkpoint-4" in json.dumps(manifest)

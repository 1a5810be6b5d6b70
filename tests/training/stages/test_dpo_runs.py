"""DPO runs on a tiny model: validation reward accuracy and margin rise, ``ftcore eval`` reports them, the
reference log-probs precompute (and cache) to the live values, kill-and-resume and 2-process DDP (slow)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ftcore.config import config_from_dict

from .conftest import dpo_run


def _recipe(cfg_dict: dict, base: Path):  # type: ignore[no-untyped-def, type-arg]
    from ftcore.training.recipe import get_recipe

    cfg = config_from_dict(cfg_dict, base_dir=str(base))
    return get_recipe(cfg.train.stage)(cfg)


def test_dpo_raises_reward_accuracy_and_margin(pairs_file: str, tmp_path: Path) -> None:
    from ftcore.cli import main

    recipe = _recipe(dpo_run(pairs_file, tmp_path / "out", train={"max_steps": 30, "save_steps": 30}), tmp_path)
    for step in recipe.steps[:-1]:
        getattr(recipe, step)()
    assert recipe.run_record.packing is True  # padding-free pairs
    before = recipe.trainer.evaluate()
    recipe.train()
    recipe.release_lock()
    after = recipe.trainer.evaluate()
    assert after["eval_rewards/accuracies"] > before["eval_rewards/accuracies"]
    assert after["eval_rewards/accuracies"] >= 0.8
    assert after["eval_rewards/margins"] > before["eval_rewards/margins"] + 0.1
    assert after["eval_loss"] < before["eval_loss"]
    logged = [json.loads(x) for x in (Path(recipe.result.output_dir) / "metrics.jsonl").read_text().splitlines()]
    assert any("rewards/margins" in r and "loss" in r for r in logged)  # training logs carry the rewards
    # ftcore eval on the checkpoint: reward accuracy and margins on the same validation pairs
    ckpt = recipe.result.last_checkpoint
    assert main(["eval", ckpt, "--out", str(tmp_path / "report.json")]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stage"] == "dpo" and report["pairs"] == len(recipe.data.validation)
    assert report["metrics"]["rewards/accuracies"] == pytest.approx(after["eval_rewards/accuracies"], abs=1e-6)
    assert report["metrics"]["rewards/margins"] == pytest.approx(after["eval_rewards/margins"], rel=1e-4)


def test_precomputed_reference_equals_the_live_one_and_is_cached(pairs_file: str, tmp_path: Path) -> None:
    import torch

    from ftcore.training.stages.preference import ReferenceModel, pairs_in

    def prepared(precompute: bool):  # type: ignore[no-untyped-def]
        recipe = _recipe(dpo_run(pairs_file, tmp_path / "out", dpo={"precompute_ref": precompute},
                                 data={"cache_dir": str(tmp_path / "cache")}), tmp_path)
        for step in ("setup_distributed", "load_model", "build_template", "prepare_data", "apply_tuner"):
            getattr(recipe, step)()
        return recipe

    recipe = prepared(True)
    assert recipe.reference.kind == "precomputed"
    assert len(list((tmp_path / "cache").glob("*/ref-*-train.json"))) == 1
    rows = recipe.data.train.select(range(4))
    batch = recipe.collator()([rows[i] for i in range(4)])
    live = ReferenceModel("adapter").logps(recipe.model, batch, pairs_in(batch), True)
    assert torch.allclose(recipe.reference.logps(recipe.model, batch, 4, True), live, atol=1e-5)
    again = prepared(True)  # read from the cache: the same columns
    assert again.data.train["ref_chosen_logps"] == recipe.data.train["ref_chosen_logps"]


SCRIPT = """
import os, sys
from transformers import TrainerCallback
from ftcore.training import trainer as trainer_module
from ftcore.training import train
KILL_AT = {kill!r}

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if KILL_AT is not None and state.global_step == KILL_AT:
            os.kill(os.getpid(), 9)

real_init = trainer_module.FtcoreTrainer.__init__
def init(self, *a, **k):
    real_init(self, *a, **k)
    self.add_callback(Kill())
trainer_module.FtcoreTrainer.__init__ = init
train(sys.argv[1], sys.argv[2:])
"""


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update({"FTCORE_LOAD_PLUGINS": "", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    return env


def _toml(path: Path, data: dict) -> Path:  # type: ignore[type-arg]
    import tomli_w

    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _runs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "ftcore-tiny-qwen2").iterdir() if p.is_dir() and p.name.startswith("v"))


def _metrics(run_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_dpo_kill_and_resume_equals_the_uninterrupted_run(pairs_file: str, tmp_path: Path) -> None:
    settings = {"max_steps": 6, "save_steps": 2}
    script = tmp_path / "child.py"

    def run(toml: Path, kill: int | None, *extra: str) -> subprocess.CompletedProcess[str]:
        script.write_text(SCRIPT.format(kill=kill))
        return subprocess.run([sys.executable, str(script), str(toml), *extra], env=_env(), capture_output=True,
                              text=True, timeout=600)

    full = _toml(tmp_path / "full.toml", dpo_run(pairs_file, tmp_path / "full", train=settings))
    proc = run(full, None)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (ref_dir,) = _runs(tmp_path / "full")
    reference = {r["step"]: r for r in _metrics(ref_dir) if "loss" in r}

    toml = _toml(tmp_path / "run.toml", dpo_run(pairs_file, tmp_path / "out", train=settings))
    proc = run(toml, 5)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-4000:]
    (killed,) = _runs(tmp_path / "out")
    assert (killed / "checkpoint-4").is_dir() and not (killed / "checkpoint-6").exists()
    proc = run(toml, None, "train.resume_from_checkpoint=latest")
    assert proc.returncode == 0, proc.stderr[-4000:]
    resumed_dir = next(p for p in _runs(tmp_path / "out") if p != killed)
    resumed = {r["step"]: r for r in _metrics(resumed_dir) if "loss" in r}
    assert sorted(resumed) == [5, 6]
    for step in (5, 6):
        for key in ("loss", "rewards/margins", "logps/chosen"):
            assert resumed[step][key] == pytest.approx(reference[step][key], rel=1e-4, abs=1e-5), (step, key)


@pytest.mark.slow
def test_dpo_ddp_two_processes_only_rank0_writes(pairs_file: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    toml = _toml(tmp_path / "run.toml", dpo_run(pairs_file, out, train={"max_steps": 2, "ddp_backend": "gloo"}))
    proc = subprocess.run([sys.executable, "-m", "ftcore", "train", str(toml), "--nproc-per-node", "2"],
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("output: ") <= 1 and proc.stderr.count("output: ") == 1  # rank 0 reports
    (run_dir,) = _runs(out)
    records = [r for r in _metrics(run_dir) if "loss" in r]
    assert [r["step"] for r in records] == [1, 2] and all("rewards/accuracies" in r for r in records)
    ckpt = run_dir / "checkpoint-2"
    assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors"} <= {p.name for p in ckpt.iterdir()}
    assert json.loads((ckpt / "trainer_state.json").read_text())["global_step"] == 2


def test_named_reference_model_is_loaded_frozen(pairs_file: str, tmp_path: Path) -> None:
    import torch

    from ftcore.training.stages.preference import ReferenceModel, pairs_in

    recipe = _recipe(dpo_run(pairs_file, tmp_path / "out", dpo={"reference": "ftcore-tiny-qwen2"}), tmp_path)
    for step in ("setup_distributed", "load_model", "build_template", "prepare_data", "apply_tuner"):
        getattr(recipe, step)()
    ref = recipe.reference
    assert ref.kind == "model" and ref.model is not recipe.model
    assert not any(p.requires_grad for p in ref.model.parameters()) and not ref.model.training
    batch = recipe.collator()([recipe.data.train[i] for i in range(2)])
    # the named model is the policy's own base here: its log-probs equal the adapter-disabled ones
    live = ReferenceModel("adapter").logps(recipe.model, batch, pairs_in(batch), True)
    assert torch.allclose(ref.logps(recipe.model, batch, pairs_in(batch), True), live, atol=1e-5)

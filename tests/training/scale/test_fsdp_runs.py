"""FSDP2, context-parallel and multi-node runs with 2 CPU processes over gloo (slow): LoRA with packing, the
loss-only head and gradient accumulation against one process with the same global batch; full fine-tuning with
activation checkpointing through FSDP and sharded checkpoints, resumed; a sequence split over 2 processes
(DeepSpeed Ulysses) against one process; two "nodes" on 127.0.0.1 against one node."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_dict, run_ftcore, subprocess_env, write_toml

pytestmark = pytest.mark.slow

#: one optimizer step = 4 samples: 2 processes × batch 1 × grad_accum 2, or 1 process × batch 1 × grad_accum 4
LORA = {"max_steps": 2, "batch_size": 1, "grad_accum": 2, "fsdp": "full_shard", "loss_only_head": True}


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _runs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "tiny").iterdir() if p.is_dir())


def _losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in _metrics(run_dir) if "loss" in r}


def _lora_run(tiny_model: str, data_file: str, out: Path, **train: Any) -> dict[str, Any]:
    return run_dict(tiny_model, data_file, out, train={**LORA, **train}, data={"packing": True})


@pytest.fixture(scope="module")
def fsdp_lora(tiny_model: str, data_file: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA run with FSDP2 (full_shard) on 2 processes; returns its run folder."""
    tmp = tmp_path_factory.mktemp("fsdp-lora")
    run = write_toml(tmp / "run.toml", _lora_run(tiny_model, data_file, tmp / "out"))
    proc = run_ftcore(["train", str(run), "--nproc-per-node", "2"], timeout=400)
    assert proc.stdout.count("output: ") == 1  # rank 0 alone reports
    (run_dir,) = _runs(tmp / "out")
    return run_dir


def test_fsdp_lora_matches_one_process(fsdp_lora: Path, tiny_model: str, data_file: str, tmp_path: Path) -> None:
    from ftcore.training import train

    cfg = _lora_run(tiny_model, data_file, tmp_path / "one", grad_accum=4)
    del cfg["train"]["fsdp"]
    train(cfg)
    (single,) = _runs(tmp_path / "one")
    sharded, reference = _metrics(fsdp_lora), _metrics(single)
    assert [r["step"] for r in sharded if "loss" in r] == [1, 2]  # rank 0 alone writes metrics
    for a, b in zip((r for r in sharded if "loss" in r), (r for r in reference if "loss" in r), strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)  # the same adapters on every rank

    # the checkpoint is an ordinary peft adapter
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ckpt = fsdp_lora / "checkpoint-2"
    names = {p.name for p in ckpt.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "rng_state_0.pth", "rng_state_1.pth"} <= names
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(ckpt))
    trained = [n for n, p in model.named_parameters() if "lora_B" in n and p.abs().sum() > 0]
    assert trained  # lora_B starts at zero: the saved adapters moved


def test_fsdp_full_sharded_resume(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    settings = {"max_steps": 4, "save_steps": 2, "save_total_limit": -1, "batch_size": 1, "grad_accum": 1,
                "lr": 1e-4, "fsdp": "full_shard", "fsdp_state_dict": "sharded", "gradient_checkpointing": True,
                "only_save_model": False}
    out = tmp_path / "out"
    cfg = run_dict(tiny_model, data_file, out, train=settings, tuner={"method": "full"})
    run = write_toml(tmp_path / "run.toml", cfg)
    run_ftcore(["train", str(run), "--nproc-per-node", "2"], timeout=400)
    (first,) = _runs(out)
    mid, last = first / "checkpoint-2", first / "checkpoint-4"
    assert (mid / "pytorch_model_fsdp_0").is_dir() and not (mid / "model.safetensors").exists()  # shards only
    assert (last / "model.safetensors").is_file() and (last / "pytorch_model_fsdp_0").is_dir()  # + whole weights

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(last))  # plain transformers
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert any(not p.equal(q) for p, q in zip(model.parameters(), base.parameters(), strict=True))

    run_ftcore(["train", str(run), "--nproc-per-node", "2", "--set", f"train.resume_from_checkpoint={mid}"],
               timeout=400)
    resumed = next(p for p in _runs(out) if p != first)
    reference, again = _losses(first), _losses(resumed)
    assert sorted(again) == [3, 4]
    for step in (3, 4):
        assert again[step] == pytest.approx(reference[step], rel=1e-5)

    # one process, the same global batch (2 rows a step), no FSDP: the same losses
    from ftcore.training import train

    single = {k: v for k, v in settings.items() if not k.startswith("fsdp")}
    train(run_dict(tiny_model, data_file, tmp_path / "one", train={**single, "batch_size": 2, "save_steps": 100},
                   tuner={"method": "full"}))
    (one,) = _runs(tmp_path / "one")
    assert _losses(one) == pytest.approx(reference, rel=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_nodes_match_one_node(fsdp_lora: Path, tiny_model: str, data_file: str, tmp_path: Path) -> None:
    """Two launches on 127.0.0.1 (--nnodes 2, one process each) train exactly what one node with 2 processes
    trains."""
    out = tmp_path / "out"
    run = write_toml(tmp_path / "run.toml", _lora_run(tiny_model, data_file, out))
    port = str(_free_port())
    procs = [
        subprocess.Popen([sys.executable, "-m", "ftcore", "train", str(run), "--nnodes", "2", "--node-rank",
                          str(node), "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port],
                         env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for node in (0, 1)
    ]
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_stdout, stderr) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, stderr[-4000:]
    assert "output: " in outputs[0][0] and "output: " not in outputs[1][0]  # global rank 0 reports
    (run_dir,) = _runs(out)

    from safetensors.torch import load_file

    ours = load_file(str(run_dir / "checkpoint-2" / "adapter_model.safetensors"))
    theirs = load_file(str(fsdp_lora / "checkpoint-2" / "adapter_model.safetensors"))
    assert ours.keys() == theirs.keys() and ours
    for key in ours:
        assert ours[key].equal(theirs[key]), key
    assert _losses(run_dir) == _losses(fsdp_lora)


def test_context_parallel_matches_one_process(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    """train.context_parallel = 2: every sequence split over the 2 processes (Ulysses, ZeRO-2, sdpa without
    packing) trains as one process does on whole sequences."""
    common = {"max_steps": 2, "batch_size": 1, "grad_accum": 2}
    cfg = run_dict(tiny_model, data_file, tmp_path / "cp", train={**common, "deepspeed": "zero2",
                                                                  "context_parallel": 2},
                   data={"packing": False}, model={"path": tiny_model, "attn": "sdpa"})
    run = write_toml(tmp_path / "cp.toml", cfg)
    run_ftcore(["train", str(run), "--nproc-per-node", "2"], timeout=600)
    (split,) = _runs(tmp_path / "cp")

    from ftcore.training import train

    train(run_dict(tiny_model, data_file, tmp_path / "one", train=common, data={"packing": False},
                   model={"path": tiny_model, "attn": "sdpa"}))
    (whole,) = _runs(tmp_path / "one")
    got, want = _losses(split), _losses(whole)
    assert sorted(got) == [1, 2]
    for step in (1, 2):
        assert got[step] == pytest.approx(want[step], rel=2e-4)
    assert (split / "checkpoint-2" / "adapter_model.safetensors").is_file()

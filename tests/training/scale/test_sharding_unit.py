"""train.fsdp / train.context_parallel without starting processes: config errors before anything loads, the
TrainingArguments they become, the decoder layers FSDP wraps, the multi-node launch command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict
from ftcore.errors import ConfigError, FtcoreError

BASE: dict[str, Any] = {"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": ["self-cognition-mini"]}}


def _cfg(**sections: dict[str, Any]) -> Any:
    data = {k: dict(v) for k, v in BASE.items()}
    for key, values in sections.items():
        data.setdefault(key, {}).update(values)
    return config_from_dict(data)


def _problems(**sections: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _cfg(**sections)
    return str(info.value).splitlines()


@pytest.mark.parametrize(("sections", "line"), [
    ({"train": {"fsdp": "full_shard", "deepspeed": "zero3"}},
     "run.toml: train.fsdp: FSDP and DeepSpeed both shard the model; set only one of train.fsdp / train.deepspeed"),
    ({"train": {"fsdp": "full_shard"}, "model": {"name": "ftcore-tiny-qwen2", "device_map": "auto"}},
     "run.toml: train.fsdp: FSDP cannot be combined with model.device_map (model parallel); remove one of them"),
    ({"train": {"fsdp": "offload"}, "tuner": {"method": "qlora"}},
     "run.toml: train.fsdp: ftcore does not shard bitsandbytes-quantized models; use DDP (--nproc-per-node) or "
     "train.deepspeed = 'zero2' for QLoRA"),
    ({"train": {"context_parallel": 2}, "data": {"datasets": ["self-cognition-mini"], "packing": False}},
     "run.toml: train.context_parallel: runs on DeepSpeed Ulysses; set train.deepspeed (e.g. 'zero2' or 'zero3')"),
    ({"train": {"context_parallel": 2, "deepspeed": "zero2"}},
     "run.toml: train.context_parallel: packed rows split over processes stay apart only with flash-attention "
     "(model.attn = 'auto'); set model.attn = 'flash_attention_2' or data.packing = false"),
])
def test_conflicting_engine_options_are_one_line_errors(sections: dict[str, Any], line: str) -> None:
    assert line in _problems(**sections)


def test_context_parallel_takes_one_row_per_batch() -> None:
    lines = _problems(train={"context_parallel": 2, "deepspeed": "zero2", "batch_size": 2},
                      data={"datasets": ["self-cognition-mini"], "packing": False})
    assert lines == ["run.toml: train.context_parallel: takes one row per batch; set train.batch_size = 1 (fill "
                     "steps with train.grad_accum, or pack samples into long rows)"]


def test_context_parallel_with_fsdp_names_the_engine() -> None:
    lines = _problems(train={"context_parallel": 2, "fsdp": "full_shard"},
                      data={"datasets": ["self-cognition-mini"], "packing": False})
    assert any("train.context_parallel: runs on DeepSpeed Ulysses, not FSDP" in line for line in lines)


def test_valid_combinations_pass() -> None:
    assert _cfg(train={"fsdp": "hybrid_shard", "gradient_checkpointing": True}).train.fsdp == "hybrid_shard"
    assert _cfg(train={"context_parallel": 4, "deepspeed": "zero3"},
                model={"name": "ftcore-tiny-qwen2", "attn": "flash_attention_2"}).train.context_parallel == 4
    assert _cfg(train={"context_parallel": 2, "deepspeed": "zero2"},
                data={"datasets": ["self-cognition-mini"], "packing": False}).train.context_parallel == 2


def test_unknown_fsdp_value() -> None:
    lines = _problems(train={"fsdp": "zero3"})
    assert lines[0].startswith("run.toml: train.fsdp: must be 'full_shard', 'shard_grad_op'")


def test_validate_command_reports_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ftcore train`` on a conflicting file fails with the one line, before torchrun or a model."""
    from ftcore import cli

    run = tmp_path / "run.toml"
    run.write_text('[model]\nname = "ftcore-tiny-qwen2"\n[data]\ndatasets = ["self-cognition-mini"]\n'
                   '[train]\nfsdp = "full_shard"\ndeepspeed = "zero2"\n', encoding="utf-8")
    code = cli.main(["train", str(run)])
    err = capsys.readouterr().err
    assert code != 0
    assert "train.fsdp: FSDP and DeepSpeed both shard the model" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------ arguments


@pytest.fixture(scope="module")
def tiny_lora(tiny_model: str) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    return get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))


def _args(tmp_path: Path, model: Any, monkeypatch: pytest.MonkeyPatch | None = None, *, world: int = 1,
          per_node: int = 1, **train: Any) -> Any:
    import ftcore.training.sharding as sharding
    from ftcore.training.arguments import training_arguments
    from ftcore.training.resolved import resolve_run

    if monkeypatch is not None:
        monkeypatch.setattr(sharding, "world_size", lambda: world)
        monkeypatch.setattr(sharding, "local_world_size", lambda: per_node)
    data = {**BASE, "train": {"report_to": [], **train}}
    if train.get("context_parallel", 1) > 1:
        data["data"] = {"datasets": ["self-cognition-mini"], "packing": False}
    cfg = config_from_dict(data, base_dir=str(tmp_path))
    return training_arguments(resolve_run(cfg).replace(dtype="fp32"), tmp_path, has_eval=False, model=model)


def test_decoder_layer_classes(tiny_lora: Any) -> None:
    from ftcore.training.sharding import decoder_layer_classes

    assert decoder_layer_classes(tiny_lora) == ["Qwen2DecoderLayer"]  # through the peft wrapper


def test_fsdp_arguments(tmp_path: Path, tiny_lora: Any) -> None:
    args = _args(tmp_path, tiny_lora, fsdp="full_shard", gradient_checkpointing=True)
    assert args.fsdp_plugin_args["fsdp_version"] == 2
    assert args.fsdp_plugin_args["transformer_cls_names_to_wrap"] == "Qwen2DecoderLayer"
    assert args.fsdp_plugin_args["reshard_after_forward"] is True
    assert args.fsdp_plugin_args["activation_checkpointing"] is True  # through FSDP …
    assert not args.activation_checkpointing  # … not the Trainer's own as well
    assert args.fsdp_plugin_args["state_dict_type"] == "FULL_STATE_DICT"
    args = _args(tmp_path, tiny_lora, fsdp="shard_grad_op", fsdp_state_dict="sharded")
    assert args.fsdp_plugin_args["reshard_after_forward"] is False
    assert args.fsdp_plugin_args["state_dict_type"] == "SHARDED_STATE_DICT"
    assert _args(tmp_path, tiny_lora, fsdp="offload").fsdp_plugin_args["cpu_offload"] is True


def test_fsdp1_strategy_names(tmp_path: Path, tiny_lora: Any) -> None:
    args = _args(tmp_path, tiny_lora, fsdp="hybrid_shard", fsdp_version=1)
    assert args.fsdp_plugin_args["fsdp_version"] == 1
    assert str(args.fsdp_plugin_args["reshard_after_forward"]).upper() == "HYBRID_SHARD"


def test_hybrid_shard_is_a_2d_mesh_over_nodes(tmp_path: Path, tiny_lora: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    args = _args(tmp_path, tiny_lora, monkeypatch, world=16, per_node=8, fsdp="hybrid_shard")
    pc = args.parallelism_config
    assert (pc.dp_replicate_size, pc.dp_shard_size) == (2, 8)  # replicate across 2 nodes, shard over 8 GPUs
    args = _args(tmp_path, tiny_lora, monkeypatch, world=8, per_node=8, fsdp="hybrid_shard")
    assert args.parallelism_config is None  # one node: full sharding


def test_context_parallel_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = _args(tmp_path, None, monkeypatch, world=4, per_node=4, context_parallel=2, deepspeed="zero2")
    pc = args.parallelism_config
    assert (pc.sp_backend, pc.sp_size) == ("deepspeed", 2)
    assert pc.sp_handler.sp_seq_length_is_variable is True
    assert pc.sp_handler.sp_attn_implementation == "sdpa"
    with pytest.raises(FtcoreError, match="train.context_parallel: 4 does not divide the 2 processes"):
        _args(tmp_path, None, monkeypatch, world=2, per_node=2, context_parallel=4, deepspeed="zero2")


def test_fsdp_seeds_every_rank_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """FSDP shards each rank's own initialisation: the adapters must be created with one seed on every rank."""
    import ftcore.training.recipe as recipe_module
    from ftcore.training.recipe import SFTRecipe

    seeds: list[int] = []
    monkeypatch.setattr(recipe_module, "rank", lambda: 1)
    monkeypatch.setattr("transformers.set_seed", lambda s: seeds.append(s))
    monkeypatch.setattr("accelerate.PartialState", lambda *a, **k: None)
    SFTRecipe(_cfg(train={"fsdp": "full_shard", "seed": 7})).setup_distributed()
    SFTRecipe(_cfg(train={"seed": 7})).setup_distributed()
    assert seeds == [7, 8]  # DDP: seed + rank (rank 0's weights are broadcast)


def test_loss_tied_to_model_output() -> None:
    import torch

    from ftcore.training.sharding import tie_to_model_output

    logits = torch.ones(2, 1, 5, requires_grad=True)
    loss = tie_to_model_output(torch.tensor(3.0), {"logits": logits})
    assert float(loss) == 3.0
    loss.backward()
    assert logits.grad is not None  # the model's output is in the graph (FSDP's root hooks fire)


# ------------------------------------------------------------------------------------------ multi-node


def test_cli_multi_node_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from ftcore.commands import train as train_command
    from ftcore.training import distributed as dist

    calls: list[list[str]] = []
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(dist.subprocess, "call", lambda cmd, env=None: calls.append(cmd) or 0)
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "run.toml", "--nnodes", "2", "--node-rank", "1", "--master-addr",
                              "127.0.0.1", "--master-port", "29555"])
    assert args.func(args) == 0
    assert calls == [[sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=1", "--nnodes=2",
                      "--node-rank=1", "--master-addr=127.0.0.1", "--master-port=29555",
                      "-m", "ftcore", "train", "run.toml"]]


# ------------------------------------------------------------------------------------------ context parallel


def test_context_parallel_collator_pads_rows_for_ulysses() -> None:
    import torch

    from ftcore.training.sharding import ContextParallelCollator

    def padded(features: list[dict[str, Any]]) -> dict[str, Any]:
        return {"input_ids": torch.tensor([[5, 6, 7, 8, 9], [5, 6, 0, 0, 0]]),
                "labels": torch.tensor([[-100, 6, 7, 8, 9], [-100, 6, -100, -100, -100]]),
                "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])}

    batch = ContextParallelCollator(padded, 4, pad_token_id=0)([])
    assert "attention_mask" not in batch  # Ulysses ignores it
    assert batch["input_ids"].shape == (2, 8)  # a multiple of 4
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]  # the tail: its own run
    assert batch["labels"][0, 5:].tolist() == [-100, -100, -100]

    def packed(features: list[dict[str, Any]]) -> dict[str, Any]:
        return {"input_ids": torch.tensor([[5, 6, 7, 8]]), "labels": torch.tensor([[-100, 6, -100, 8]]),
                "position_ids": torch.tensor([[0, 1, 0, 1]])}

    batch = ContextParallelCollator(packed, 2, pad_token_id=0)([])
    assert batch["position_ids"].tolist() == [[0, 1, 0, 1]]  # packed rows keep theirs, already divisible


def test_context_parallel_collator_only_when_asked() -> None:
    from ftcore.training.sharding import ContextParallelCollator, context_parallel_collator

    inner = object()
    assert context_parallel_collator(_cfg(), inner, None) is inner
    cfg = _cfg(train={"context_parallel": 2, "deepspeed": "zero2"},
               data={"datasets": ["self-cognition-mini"], "packing": False})
    wrapped = context_parallel_collator(cfg, inner, None)
    assert isinstance(wrapped, ContextParallelCollator) and wrapped.parts == 2


def test_sequence_parallel_uses_the_trainers_loss() -> None:
    from types import SimpleNamespace

    from ftcore.training.sharding import sequence_parallel_active

    def trainer(pc: Any) -> Any:
        return SimpleNamespace(accelerator=SimpleNamespace(parallelism_config=pc))

    assert not sequence_parallel_active(trainer(None))
    assert not sequence_parallel_active(trainer(SimpleNamespace(sp_backend="deepspeed", sp_enabled=False)))
    assert sequence_parallel_active(trainer(SimpleNamespace(sp_backend="deepspeed", sp_enabled=True)))


# ------------------------------------------------------------------------------------------ resume "auto"


def test_resume_auto(tmp_path: Path) -> None:
    from ftcore.training.steps import resume_path

    cfg = config_from_dict({**BASE, "output": {"dir": str(tmp_path / "out")},
                            "train": {"resume_from_checkpoint": "auto"}})
    assert resume_path(cfg, "tiny") is None  # nothing yet: a fresh start
    ckpt = tmp_path / "out" / "tiny" / "v0-20261130-101010" / "checkpoint-4"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert resume_path(cfg, "tiny") == str(ckpt)
    latest = config_from_dict({**BASE, "output": {"dir": str(tmp_path / "none")},
                               "train": {"resume_from_checkpoint": "latest"}})
    with pytest.raises(FtcoreError, match="no earlier run"):
        resume_path(latest, "tiny")


# ------------------------------------------------------------------------------------------ examples

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("name", "command"), [
    ("full_fsdp.toml", "--nproc-per-node 8"), ("lora_fsdp.toml", "--nproc-per-node 8"),
    ("long_context.toml", "--nproc-per-node 4"),
])
def test_examples_are_valid_and_documented(name: str, command: str) -> None:
    from ftcore.config import load_config

    path = ROOT / "examples" / "scaling" / name
    cfg = load_config(path)
    assert f"#   ftcore train examples/scaling/{name} {command}" in path.read_text(encoding="utf-8")
    assert cfg.train.fsdp or cfg.train.context_parallel > 1
    assert f"examples/scaling/{name}" in (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "command"), [("slurm.sbatch", "sbatch examples/scaling/slurm.sbatch"),
                                               ("elastic.sh", "bash examples/scaling/elastic.sh")])
def test_launcher_examples(name: str, command: str) -> None:
    import subprocess

    path = ROOT / "examples" / "scaling" / name
    text = path.read_text(encoding="utf-8")
    assert command in "\n".join(text.splitlines()[:8])  # the command on top
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0  # valid shell
    assert "ftcore train" in text and f"examples/scaling/{name}" in (ROOT / "docs" / "scaling.md").read_text()


def test_context_parallel_needs_a_multiple_of_processes() -> None:
    from ftcore.preflight import context_parallel_problem

    assert context_parallel_problem(1, 1) is None
    assert context_parallel_problem(2, 4) is None
    assert context_parallel_problem(2, 1) == ("2 processes share each sequence but this run has 1; launch a "
                                              "multiple of 2 (ftcore train run.toml --nproc-per-node 2)")
    assert context_parallel_problem(4, 6) is not None


def test_validate_reports_a_single_process_context_parallel_run(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from ftcore.preflight import environment_problems

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = _cfg(train={"context_parallel": 2, "deepspeed": "zero2"}, output={"dir": str(tmp_path / "out")},
               data={"datasets": ["self-cognition-mini"], "packing": False})
    assert any("train.context_parallel: 2 processes share each sequence but this run has 1" in p
               for p in environment_problems(cfg))


def test_offload_needs_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.models.devices as devices
    from ftcore.preflight import environment_problems

    cfg = _cfg(train={"fsdp": "offload"}, output={"dir": str(tmp_path / "out")})
    monkeypatch.setattr(devices, "accelerator", lambda: "cpu")
    assert f"{cfg.source}: train.fsdp: offload moves shards between the GPUs and the CPU, and this machine has no " \
           "GPU; use full_shard" in environment_problems(cfg)
    monkeypatch.setattr(devices, "accelerator", lambda: "cuda")
    assert not any("train.fsdp" in p for p in environment_problems(cfg))

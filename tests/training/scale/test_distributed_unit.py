"""Launch commands, per-process device maps, DeepSpeed presets and the Trainer arguments of scale settings —
everything that can be checked on one CPU without starting processes."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from ftcore.config import config_from_dict
from ftcore.errors import FtcoreError
from ftcore.training import distributed as dist


def test_torchrun_command_single_node() -> None:
    cmd = dist.torchrun_command("run.toml", ["train.max_steps=5"], nproc_per_node=2, python="py")
    assert cmd == ["py", "-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone",
                   "-m", "ftcore", "train", "run.toml", "--set", "train.max_steps=5"]


def test_torchrun_command_several_nodes() -> None:
    cmd = dist.torchrun_command("run.toml", nproc_per_node=8, nnodes=2, node_rank=1, master_addr="10.0.0.1",
                                python="py")
    assert cmd[3:8] == ["--nproc-per-node=8", "--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.1",
                        "--master-port=29500"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"nproc_per_node": 0}, "--nproc-per-node: must be >= 1"),
    ({"nproc_per_node": 2, "nnodes": 2}, "--master-addr: several nodes need the address of node 0"),
    ({"nproc_per_node": 2, "nnodes": 2, "node_rank": 2, "master_addr": "h"}, "--node-rank: must be between 0 and 1"),
])
def test_torchrun_command_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(FtcoreError, match=message):
        dist.torchrun_command("run.toml", **kwargs)


def _parse(argv: list[str]) -> argparse.Namespace:
    from ftcore.commands import train as train_command

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


def test_cli_hands_over_to_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(dist.subprocess, "call", lambda cmd, env=None: calls.append(cmd) or 0)
    args = _parse(["run.toml", "--nproc-per-node", "2", "--set", "train.seed=1"])
    assert args.func(args) == 0
    assert calls == [[sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone",
                      "-m", "ftcore", "train", "run.toml", "--set", "train.seed=1"]]


def test_cli_under_torchrun_trains_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torchrun -m ftcore train run.toml --nproc-per-node 2`` must not launch torchrun again."""
    import ftcore.training.pipeline as pipeline

    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(dist.subprocess, "call", lambda *a, **k: pytest.fail("relaunched"))
    seen: list[str] = []

    class Result:
        output_dir = best_checkpoint = last_checkpoint = "x"

    import ftcore.training

    def fake_train(config, overrides):  # type: ignore[no-untyped-def]
        seen.append(config)
        return Result()

    # ftcore.training resolves ``train`` lazily from the pipeline: patch it first, so that what monkeypatch restores
    # afterwards is the real function and not the fake (which would leak into every later test)
    monkeypatch.setattr(ftcore.training, "train", fake_train)  # the name commands/train.py imports
    monkeypatch.setattr(pipeline, "train", fake_train)
    args = _parse(["run.toml", "--nproc-per-node", "2"])
    assert args.func(args) == 0 and seen == ["run.toml"]


# ------------------------------------------------------------------------------------------------ device maps


def test_mp_group_is_the_seeds_interleaving() -> None:
    assert dist.mp_group(0, 2, 4) == [0, 2]
    assert dist.mp_group(1, 2, 4) == [1, 3]
    assert dist.mp_group(0, 1, 2) == [0, 1]


def test_single_process_keeps_the_map() -> None:
    assert dist.process_device_map("auto", {"0": "20GiB"}, n_gpus=2) == ("auto", {"0": "20GiB"}, False)
    assert dist.process_device_map(None, None, n_gpus=0, distributed=True) == (None, None, False)


def test_ddp_one_gpu_per_process() -> None:
    assert dist.process_device_map(None, None, n_gpus=2, local_rank=1, local_world_size=2, distributed=True) == (
        {"": 1}, None, False)
    # "auto" with one GPU per process is plain DDP too
    assert dist.process_device_map("auto", None, n_gpus=2, local_rank=1, local_world_size=2,
                                   distributed=True)[0] == {"": 1}


def test_mp_ddp_auto_is_restricted_to_the_group() -> None:
    device_map, budget, split = dist.process_device_map(
        "auto", {"0": "15GiB"}, n_gpus=4, local_rank=1, local_world_size=2, distributed=True)
    assert device_map == "auto" and split
    assert budget == {1: "15GiB", 3: "15GiB"}  # the budget given for position 0 applies to the whole group


def test_mp_ddp_explicit_map_uses_group_positions() -> None:
    device_map, budget, split = dist.process_device_map(
        {"model.embed_tokens": 0, "model.layers": 1, "lm_head": 1}, None, n_gpus=4, local_rank=1,
        local_world_size=2, distributed=True)
    assert device_map == {"model.embed_tokens": 1, "model.layers": 3, "lm_head": 3} and split and budget is None


def test_model_options_pass_device_map_and_max_memory(tiny_model: str) -> None:
    from ftcore.models import model_options
    from ftcore.specs import ModelSpec

    cfg = config_from_dict({"model": {"path": tiny_model, "device_map": "auto",
                                      "max_memory": {"0": "20GiB", "cpu": "64GiB"}}})
    options = model_options(cfg, ModelSpec(name="tiny", path=tiny_model), tiny_model, dtype="fp32")
    assert options.device_map == "auto"
    assert options.max_memory == {0: "20GiB", "cpu": "64GiB"}


def test_device_map_reaches_from_pretrained(tiny_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from ftcore.models import get_model_tokenizer

    seen: dict = {}

    class Stop(Exception):
        pass

    class Recorder:
        @staticmethod
        def from_pretrained(path: str, **kwargs: object) -> None:
            seen.update(kwargs)
            raise Stop

    monkeypatch.setattr(transformers, "AutoModelForCausalLM", Recorder)
    with pytest.raises(Stop):
        get_model_tokenizer(tiny_model, dtype="fp32", device_map={"model": 0, "lm_head": "cpu"},
                            max_memory={"0": "10GiB"})
    assert seen["device_map"] == {"model": 0, "lm_head": "cpu"}
    assert seen["max_memory"] == {0: "10GiB"}


# ------------------------------------------------------------------------------------------------ DeepSpeed


@pytest.mark.parametrize("preset", dist.DS_PRESETS)
def test_presets_ship_with_auto_values(preset: str) -> None:
    path = dist.deepspeed_config_path(preset)
    data = json.loads(open(path, encoding="utf-8").read())
    stage = int(preset[4])
    assert data["zero_optimization"]["stage"] == stage
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
                "gradient_clipping"):
        assert data[key] == "auto"
    assert data["bf16"]["enabled"] == "auto" and data["fp16"]["enabled"] == "auto"
    assert ("offload_optimizer" in data["zero_optimization"]) == preset.endswith("offload")
    if stage == 3:
        assert data["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_deepspeed_file_relative_to_run_toml(tmp_path) -> None:
    (tmp_path / "ds.json").write_text('{"zero_optimization": {"stage": 1}}')
    assert dist.deepspeed_config_path("ds.json", str(tmp_path)) == str(tmp_path / "ds.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FtcoreError, match="run.toml: train.deepspeed: bad.json is not valid JSON"):
        dist.deepspeed_config_path("bad.json", str(tmp_path))


# ------------------------------------------------------------------------------------------------ Trainer arguments


def _args(tmp_path, **train: object):
    from ftcore.training.arguments import training_arguments
    from ftcore.training.resolved import resolve_run

    data = {"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": ["self-cognition-mini"]},
            "train": {"report_to": [], **train}}
    tuner = train.pop("tuner", None)
    if tuner:
        data["tuner"] = {"method": tuner}
        data["train"].pop("tuner")
    cfg = config_from_dict(data, base_dir=str(tmp_path))
    run = resolve_run(cfg).replace(dtype="fp32")
    return training_arguments(run, tmp_path, has_eval=False)


def test_only_save_model_defaults(tmp_path) -> None:
    assert _args(tmp_path).save_only_model is False
    assert _args(tmp_path, tuner="full").save_only_model is True
    assert _args(tmp_path, only_save_model=True).save_only_model is True


def test_oom_test_trains_in_order(tmp_path) -> None:
    assert _args(tmp_path, test_oom_error=True).train_sampling_strategy == "sequential"
    assert _args(tmp_path).train_sampling_strategy == "random"


def test_gradient_checkpointing_is_non_reentrant(tmp_path) -> None:
    args = _args(tmp_path, gradient_checkpointing=True, grad_accum=4)
    assert args.gradient_checkpointing_kwargs == {"use_reentrant": False}
    assert args.gradient_accumulation_steps == 4


def test_ddp_settings_follow_the_seed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.training.arguments as arguments

    monkeypatch.setattr(arguments, "world_size", lambda: 2)
    args = _args(tmp_path, gradient_checkpointing=True)
    assert args.ddp_find_unused_parameters is False and args.ddp_broadcast_buffers is False
    args = _args(tmp_path)
    assert args.ddp_find_unused_parameters is True and args.ddp_broadcast_buffers is True


def test_longest_first() -> None:
    from datasets import Dataset

    from ftcore.training.recipe import longest_first

    ds = Dataset.from_dict({"input_ids": [[1], [1, 2, 3], [1, 2], [4, 5, 6]], "labels": [[1], [1], [1], [1]]})
    assert [len(x) for x in longest_first(ds)["input_ids"]] == [3, 3, 2, 1]
    assert longest_first(ds)["input_ids"][:2] == [[1, 2, 3], [4, 5, 6]]  # ties keep their order
    assert len(longest_first(ds, limit=2)) == 2
    with pytest.raises(FtcoreError, match="train.test_oom_error"):
        longest_first(object())


# ------------------------------------------------------------------------------------------------ memory levers


def test_flash_attention_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from ftcore.models import loading

    real = importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec",
                        lambda name, *a: None if name == "flash_attn" else real(name, *a))
    from ftcore.specs import ModelOptions, ModelSpec

    loader = loading.ModelLoader(ModelSpec(name="m", path="x"), ModelOptions(model_dir="x", attn="flash_attention_2"))
    with pytest.raises(FtcoreError) as info:
        loader.attention_kwargs()
    assert str(info.value) == ("model.attn = 'flash_attention_2' needs an optional dependency: "
                               "pip install flash-attn --no-build-isolation")


def test_lora_with_gradient_checkpointing_trains_the_adapters(tiny_model: str) -> None:
    import torch

    from ftcore.models import get_model_tokenizer
    from ftcore.specs import TunerOptions
    from ftcore.tuners import apply_tuner

    model, _ = get_model_tokenizer(tiny_model, dtype="fp32")
    model = apply_tuner(model, TunerOptions(method="lora", rank=4, alpha=8, dropout=0.0,
                                            targets=["q_proj", "v_proj"], gradient_checkpointing=True))
    model.train()
    assert model.base_model.model.model.gradient_checkpointing
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    model(input_ids=ids, labels=ids).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if "lora_" in n}
    assert grads and all(g is not None for g in grads.values())
    # lora_B starts at zero, so at the first step only lora_B receives a non-zero gradient
    assert all(float(g.abs().sum()) > 0 for n, g in grads.items() if "lora_B" in n)

"""Checkpoints in the layout ``ftcore train`` writes, built once per session from a tiny random model.

output/tiny/v0-20261128-101500/
  run.toml  checkpoints.json ({"best": "checkpoint-2", "last": "checkpoint-4"})
  checkpoint-2/  LoRA adapter (safetensors) + tokenizer + ftcore_run.toml
  checkpoint-4/  the same adapter
full/checkpoint-1/  full weights + tokenizer + ftcore_run.toml (tuner.method = "full")
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict, config_to_toml

VALIDATION_ROWS = [
    {"query": "what is the capital of france?", "response": "paris"},
    {"query": "2 + 2 = ?", "response": "4"},
    {"query": "name a colour", "response": "blue"},
]


def run_config(model_dir: str, data_file: str, **extra: dict) -> dict:
    """A run config as ``ftcore train`` would write it into a checkpoint (paths absolute)."""
    cfg = {
        "model": {"path": model_dir},
        "template": {"name": "chatml", "max_length": 512},
        "data": {
            "datasets": [{"path": data_file}],
            "validation": [{"path": data_file}],
            "test_ratio": 0.0,
            "sample": -1,
        },
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]},
        "generation": {"max_new_tokens": 8, "do_sample": False},
    }
    for section, values in extra.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def write_run_toml(folder: Path, data: dict) -> None:
    cfg = config_from_dict(data)
    (folder / "ftcore_run.toml").write_text(config_to_toml(cfg), encoding="utf-8")


@pytest.fixture(scope="module", autouse=True)
def builtin_plugins_only() -> Any:
    """The core's inference tests run with the built-in plugins only (installed plugins are tested on their own)."""
    from ftcore import plugins

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTCORE_LOAD_PLUGINS", "")
        plugins.reset()
        yield
    plugins.reset()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in VALIDATION_ROWS), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def output_root(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str, data_file: str) -> Path:
    """An output folder holding one LoRA run (best = checkpoint-2, last = checkpoint-4)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ftcore.testing import qwen25_tokenizer

    root = tmp_path_factory.mktemp("output")
    run = root / "tiny" / "v0-20261128-101500"
    run.mkdir(parents=True)
    data = run_config(tiny_model_dir, data_file)
    (run / "run.toml").write_text(config_to_toml(config_from_dict(data)), encoding="utf-8")
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    model = get_peft_model(base, lora)
    tokenizer = qwen25_tokenizer()  # the tiny model's tokenizer, loaded once per process
    first = run / "checkpoint-2"
    model.save_pretrained(first, safe_serialization=True)
    tokenizer.save_pretrained(first)
    write_run_toml(first, data)
    shutil.copytree(first, run / "checkpoint-4")
    (run / "checkpoints.json").write_text(json.dumps({"best": "checkpoint-2", "last": "checkpoint-4"}))
    (run / ".tmp-checkpoint-6").mkdir()  # an interrupted save: never chosen
    return root


@pytest.fixture(scope="session")
def lora_ckpt(output_root: Path) -> Path:
    return output_root / "tiny" / "v0-20261128-101500" / "checkpoint-2"


@pytest.fixture(scope="session")
def full_ckpt(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str, data_file: str) -> Path:
    """A full-weights checkpoint: the tiny model itself, its tokenizer, and a run config with method = full whose
    base model is a hub id that is not cached (and the network is off): the checkpoint alone must be enough."""
    ckpt = tmp_path_factory.mktemp("full") / "checkpoint-1"
    shutil.copytree(tiny_model_dir, ckpt)
    data = run_config(tiny_model_dir, data_file, tuner={"method": "full", "targets": "auto"})
    data["model"] = {"repo": "nobody/tiny-model-not-cached"}
    write_run_toml(ckpt, data)
    return ckpt


@pytest.fixture(scope="session")
def loaded(lora_ckpt: Path):
    """``load_checkpoint`` of the LoRA checkpoint, shared by the generation tests."""
    from ftcore.inference import load_checkpoint

    return load_checkpoint(lora_ckpt)


class Recording:
    """A template proxy that records the messages of each generation prompt; may override stop words."""

    def __init__(self, template: Any, stop_words: list[str] | None = None):
        self._template = template
        self.prompts: list[list[dict[str, str]]] = []
        if stop_words is not None:
            self.stop_words = stop_words

    def __getattr__(self, name: str) -> Any:
        return getattr(self._template, name)

    def encode_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        self.prompts.append(messages)
        return self._template.encode_prompt(messages)


@pytest.fixture
def make_recording() -> type[Recording]:
    return Recording

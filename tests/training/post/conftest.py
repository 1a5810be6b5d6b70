"""Fixtures of the post-training tests: a tiny random model and a LoRA checkpoint in ``ftcore train``'s layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict, config_to_toml

ROWS = [{"query": "what is the secret word?", "response": "the secret word is pineapple"}]


@pytest.fixture(scope="module", autouse=True)
def builtin_plugins_only() -> Any:
    from ftcore import plugins

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTCORE_LOAD_PLUGINS", "")
        plugins.reset()
        yield
    plugins.reset()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("post-tiny") / "model")


@pytest.fixture(scope="session")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("post-data") / "memorize.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return str(path)


def run_dict(model_dir: str, data_file: str) -> dict[str, Any]:
    return {
        "model": {"path": model_dir},
        "template": {"name": "chatml", "max_length": 64},
        "data": {"datasets": [{"path": data_file}], "validation": [{"path": data_file}], "test_ratio": 0.0,
                 "sample": -1},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]},
        "generation": {"max_new_tokens": 8, "do_sample": False},
    }


@pytest.fixture(scope="session")
def lora_ckpt(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str, data_file: str) -> Path:
    """run/checkpoint-2: a LoRA adapter with non-zero weights, the tokenizer, ftcore_run.toml."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = tmp_path_factory.mktemp("post-run") / "v0-20261128-101500"
    ckpt = run / "checkpoint-2"
    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                      task_type="CAUSAL_LM")
    get_peft_model(base, lora).save_pretrained(ckpt, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(ckpt)
    text = config_to_toml(config_from_dict(run_dict(tiny_model_dir, data_file)))
    (ckpt / "ftcore_run.toml").write_text(text, encoding="utf-8")
    (run / "run.toml").write_text(text, encoding="utf-8")
    return ckpt

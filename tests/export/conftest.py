"""A LoRA checkpoint of the quick-start model (ftcore-tiny-qwen2's recipe: Qwen2 architecture, small BPE tokenizer,
ChatML) in the layout ``ftcore train`` writes, with a result.json, and a base model whose card names a license."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict, config_to_toml

ROWS = [{"query": f"question {i}?", "response": f"answer {i}"} for i in range(8)]


@pytest.fixture(scope="module", autouse=True)
def builtin_plugins_only() -> Any:
    from ftcore import plugins

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTCORE_LOAD_PLUGINS", "")
        plugins.reset()
        yield
    plugins.reset()


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ftcore.models.tiny import build_tiny_qwen2

    base = Path(build_tiny_qwen2(tmp_path_factory.mktemp("base") / "tiny-qwen2"))
    (base / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n", encoding="utf-8")
    return base


@pytest.fixture(scope="session")
def lora_ckpt(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("out")
    data = root / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    run = root / "tiny" / "v0-20261130-120000"
    ckpt = run / "checkpoint-4"
    ckpt.mkdir(parents=True)
    cfg = {
        "model": {"path": str(tiny_base)},
        "template": {"name": "chatml", "max_length": 128},
        "data": {"datasets": [{"path": str(data)}], "validation": [{"path": str(data)}], "test_ratio": 0.0,
                 "sample": -1},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj", "down_proj"]},
    }
    text = config_to_toml(config_from_dict(cfg))
    (run / "run.toml").write_text(text, encoding="utf-8")
    (ckpt / "ftcore_run.toml").write_text(text, encoding="utf-8")
    torch.manual_seed(3)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False,
        task_type="CAUSAL_LM"))
    model.save_pretrained(ckpt, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(ckpt)
    (run / "result.json").write_text(json.dumps({"best_checkpoint": str(ckpt), "metrics": {
        "eval_loss": 1.25, "last_loss": 0.5}}), encoding="utf-8")
    return ckpt


@pytest.fixture(scope="session")
def merged(lora_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The merged model (ftcore merge) and the checkpoint's template, the reference every export is compared to."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftcore.inference.checkpoint import checkpoint_config, template_for
    from ftcore.inference.merge import merge_lora

    folder = merge_lora(lora_ckpt, tmp_path_factory.mktemp("merged") / "m")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return folder, model, template_for(checkpoint_config(lora_ckpt), tok)

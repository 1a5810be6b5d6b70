"""Tiny offline stand-ins of Baichuan / Baichuan2 (remote code from ``fixtures/baichuan``) for this plugin's tests."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@functools.cache
def _vocab_size() -> int:
    """Largest token id + 1 of the Qwen2.5 tokenizer.json (parsed once per session: it takes seconds)."""
    from ftcore.testing import qwen25_tokenizer_dir

    vocab = json.loads((Path(qwen25_tokenizer_dir()) / "tokenizer.json").read_text(encoding="utf-8"))
    return max([*vocab["model"]["vocab"].values(), *(t["id"] for t in vocab["added_tokens"])]) + 1


def build_baichuan_dir(out: str | Path, *, version: int = 2, thirteen_b: bool = False, seed: int = 0) -> str:
    """A tiny Baichuan (``version=1``) or Baichuan2 folder that loads like the hub repo (remote code)."""
    out = Path(out)
    if (out / "model.safetensors").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftcore.testing import qwen25_tokenizer_dir

    for src in (FIXTURES / "baichuan").glob("*.py"):
        shutil.copy(src, out / src.name)
    shutil.copy(Path(qwen25_tokenizer_dir()) / "tokenizer.json", out / "tokenizer.json")
    vocab_size = _vocab_size()
    (out / "tokenizer_config.json").write_text(json.dumps({
        "auto_map": {"AutoTokenizer": ["tokenization_baichuan.BaichuanTokenizer", None]},
        "tokenizer_class": "BaichuanTokenizer",
        "model_max_length": 4096,
        "clean_up_tokenization_spaces": False,
    }, indent=2))
    eos_id = 151643  # <|endoftext|> of the Qwen2.5 vocabulary the stand-in tokenizer reads
    config = {
        "architectures": ["BaichuanForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_baichuan.BaichuanConfig",
                     "AutoModelForCausalLM": "modeling_baichuan.BaichuanForCausalLM"},
        "model_type": "baichuan",
        "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "model_max_length": 512, "pad_token_id": eos_id, "bos_token_id": eos_id,
        "eos_token_id": eos_id, "standin_version": version, "standin_13b": thirteen_b,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(out, trust_remote_code=True)
    if isinstance(cfg.gradient_checkpointing, tuple):
        cfg.gradient_checkpointing = cfg.gradient_checkpointing[0]
    model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=True)
    model.save_pretrained(out, safe_serialization=True)
    # save_pretrained rewrote config.json from the (fixed) config object: restore the stand-in's own file
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(json.dumps({
        "user_token_id": 195, "assistant_token_id": 196, "eos_token_id": eos_id, "pad_token_id": eos_id,
    }))
    return str(out)


@pytest.fixture(scope="session")
def baichuan2_dir(tmp_path_factory) -> str:
    return build_baichuan_dir(tmp_path_factory.mktemp("baichuan2") / "Baichuan2-7B-Chat")


@pytest.fixture(scope="session")
def baichuan2_13b_dir(tmp_path_factory) -> str:
    return build_baichuan_dir(tmp_path_factory.mktemp("baichuan2-13b") / "Baichuan2-13B-Chat", thirteen_b=True)


@pytest.fixture(scope="session")
def baichuan_13b_dir(tmp_path_factory) -> str:
    return build_baichuan_dir(tmp_path_factory.mktemp("baichuan-13b") / "Baichuan-13B-Base", version=1,
                              thirteen_b=True)


@pytest.fixture(scope="session")
def baichuan1_dir(tmp_path_factory) -> str:
    return build_baichuan_dir(tmp_path_factory.mktemp("baichuan") / "baichuan-7B", version=1)


@pytest.fixture(scope="session")
def tiny_models(baichuan1_dir, baichuan_13b_dir, baichuan2_dir, baichuan2_13b_dir) -> dict:
    """Every Baichuan model -> a builder returning the session's stand-in folder of its shape."""

    def baichuan(out):
        return baichuan1_dir

    def baichuan_13b(out):
        return baichuan_13b_dir

    def baichuan2(out):
        return baichuan2_dir

    def baichuan2_13b(out):
        return baichuan2_13b_dir

    return {
        "baichuan-7b": baichuan,
        "baichuan-13b-chat": baichuan,
        "baichuan-13b": baichuan_13b,
        "baichuan2-7b*": baichuan2,
        "baichuan2-13b*": baichuan2_13b,
    }

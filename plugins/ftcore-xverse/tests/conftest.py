"""A tiny offline stand-in of XVERSE (remote code from ``fixtures/xverse``), built once per test session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def build_xverse_dir(out: str | Path, seed: int = 0) -> str:
    """A tiny XVERSE folder that loads like the hub repo: ``auto_map`` to the remote code, a fast tokenizer
    (XVERSE ships ``tokenizer.json``; here the real Qwen2.5 one) with eos = pad = ``<|endoftext|>``."""
    out = Path(out)
    if (out / "model.safetensors").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ftcore.testing import qwen25_tokenizer_dir

    for src in (FIXTURES / "xverse").glob("*.py"):
        shutil.copy(src, out / src.name)
    shutil.copy(Path(qwen25_tokenizer_dir()) / "tokenizer.json", out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "model_max_length": 8192, "clean_up_tokenization_spaces": False,
    }, indent=2))
    tok = AutoTokenizer.from_pretrained(out)
    config = {
        "architectures": ["XverseForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_xverse.XverseConfig",
                     "AutoModelForCausalLM": "modeling_xverse.XverseForCausalLM"},
        "model_type": "xverse",
        "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 512, "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.eos_token_id, "eos_token_id": tok.eos_token_id,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(out, trust_remote_code=True)
    AutoModelForCausalLM.from_config(cfg, trust_remote_code=True).save_pretrained(out, safe_serialization=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return str(out)


@pytest.fixture(scope="session")
def xverse_dir(tmp_path_factory) -> str:
    return build_xverse_dir(tmp_path_factory.mktemp("xverse") / "XVERSE-7B-Chat")


@pytest.fixture(scope="session")
def tiny_models(xverse_dir) -> dict:
    """Every XVERSE model -> a builder returning the session's stand-in (7B and 13B share the shape)."""

    def xverse(out):
        return xverse_dir

    return {"xverse-*": xverse}

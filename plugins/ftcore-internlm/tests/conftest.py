"""Tiny offline stand-ins of InternLM-1 (``fixtures/internlm``) and InternLM2 (``fixtures/internlm2``), remote code
loaded through ``trust_remote_code``, built once per test session. InternLM3 has InternLM-1's layout
(``q_proj`` / ``k_proj`` / ``v_proj``) and shares its stand-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CHAT_TEMPLATE = (FIXTURES / "chat_templates" / "internlm2-chat.jinja").read_text(encoding="utf-8")

#: stand-in -> (model class, config class, tokenizer class, module suffix)
_SHAPES = {
    "internlm": ("InternLMForCausalLM", "InternLMConfig", "InternLMTokenizer", "internlm"),
    "internlm2": ("InternLM2ForCausalLM", "InternLM2Config", "InternLM2Tokenizer", "internlm2"),
}


def build_internlm_dir(out: str | Path, arch: str = "internlm2", seed: int = 0) -> str:
    """A tiny InternLM (``arch="internlm"``) or InternLM2 folder that loads like the hub repo (remote code); the
    InternLM2 one carries the chat_template of the hub repos."""
    out = Path(out)
    if (out / "model.safetensors").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ftcore.testing import qwen25_tokenizer_dir

    model_cls, config_cls, tok_cls, module = _SHAPES[arch]
    for src in (FIXTURES / arch).glob("*.py"):
        shutil.copy(src, out / src.name)
    shutil.copy(Path(qwen25_tokenizer_dir()) / "tokenizer.json", out / "tokenizer.json")
    tokenizer_config = {
        "auto_map": {"AutoTokenizer": [f"tokenization_{module}.{tok_cls}", None]},
        "tokenizer_class": tok_cls, "model_max_length": 32768, "clean_up_tokenization_spaces": False,
    }
    if arch == "internlm2":
        tokenizer_config["chat_template"] = CHAT_TEMPLATE
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    config = {
        "architectures": [model_cls],
        "auto_map": {"AutoConfig": f"configuration_{module}.{config_cls}",
                     "AutoModelForCausalLM": f"modeling_{module}.{model_cls}"},
        "model_type": arch,
        "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 512, "pad_token_id": tok.eos_token_id,
        "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(out, trust_remote_code=True)
    AutoModelForCausalLM.from_config(cfg, trust_remote_code=True).save_pretrained(out, safe_serialization=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return str(out)


@pytest.fixture(scope="session")
def internlm_dir(tmp_path_factory) -> str:
    return build_internlm_dir(tmp_path_factory.mktemp("internlm") / "internlm-chat-7b-v1_1", "internlm")


@pytest.fixture(scope="session")
def internlm2_dir(tmp_path_factory) -> str:
    return build_internlm_dir(tmp_path_factory.mktemp("internlm2") / "internlm2_5-7b-chat", "internlm2")


@pytest.fixture(scope="session")
def tiny_models(internlm_dir, internlm2_dir) -> dict:
    """Every InternLM model -> a builder returning the session's stand-in of its layout."""

    def internlm(out):
        return internlm_dir

    def internlm2(out):
        return internlm2_dir

    return {"internlm-*": internlm, "internlm3-*": internlm, "internlm2-*": internlm2, "internlm2.5-*": internlm2}

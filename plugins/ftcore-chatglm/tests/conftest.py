"""Tiny offline stand-ins for this plugin's tests, built once per session:

* ChatGLM2 / ChatGLM3: the stand-in remote code in ``fixtures/chatglm`` (module and class names, ``query_key_value``,
  ``output_layer``, the loss on labels left on their device) + the real Qwen2.5 tokenizer.json with ChatGLM's command
  tokens and ChatGLM3's chat_template, loaded with ``trust_remote_code``;
* GLM-4 / GLM-4-0414: tiny random configs of transformers' ``glm`` / ``glm4`` with a tokenizer carrying GLM-4's
  special tokens and chat_template.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATES = FIXTURES / "chat_templates"
#: GLM-4's special tokens (the real tokenizer's, by text)
GLM4_SPECIAL = ["[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>",
                "<|observation|>"]


def _save_model(out: Path, config_dict: dict, seed: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    (out / "config.json").write_text(json.dumps(config_dict, indent=2))
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(out, trust_remote_code=True)
    AutoModelForCausalLM.from_config(cfg, trust_remote_code=True).save_pretrained(out, safe_serialization=True)
    (out / "config.json").write_text(json.dumps(config_dict, indent=2))


def build_chatglm_dir(out: str | Path, seed: int = 0) -> str:
    """A tiny ChatGLM2 / ChatGLM3 folder that loads like the hub repo (remote code)."""
    out = Path(out)
    if (out / "model.safetensors").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    from transformers import AutoTokenizer

    from ftcore.testing import qwen25_tokenizer_dir

    for src in (FIXTURES / "chatglm").glob("*.py"):
        shutil.copy(src, out / src.name)
    shutil.copy(Path(qwen25_tokenizer_dir()) / "tokenizer.json", out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "auto_map": {"AutoTokenizer": ["tokenization_chatglm.ChatGLMTokenizer", None]},
        "tokenizer_class": "ChatGLMTokenizer", "model_max_length": 8192, "clean_up_tokenization_spaces": False,
        "chat_template": (TEMPLATES / "chatglm3.jinja").read_text(encoding="utf-8"),
    }, indent=2))
    tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    _save_model(out, {
        "architectures": ["ChatGLMModel"],
        "auto_map": {"AutoConfig": "configuration_chatglm.ChatGLMConfig",
                     "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
                     "AutoModelForCausalLM": "modeling_chatglm.ChatGLMForConditionalGeneration"},
        "model_type": "chatglm",
        "padded_vocab_size": len(tok), "hidden_size": 32, "ffn_hidden_size": 64, "num_layers": 2,
        "num_attention_heads": 4, "kv_channels": 8, "seq_length": 512, "pad_token_id": tok.eos_token_id,
        "eos_token_id": tok.eos_token_id,
    }, seed)
    return str(out)


def build_glm_dir(out: str | Path, arch: str = "glm4", seed: int = 0) -> str:
    """A tiny GLM-4 (``arch="glm"``, GLM-4-9B-Chat-hf) or GLM-4-0414 (``glm4``) folder of transformers' own classes,
    its tokenizer with GLM-4's special tokens, eos ``<|endoftext|>`` and chat_template."""
    out = Path(out)
    if (out / "model.safetensors").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ftcore.testing import qwen25_tokenizer_dir

    tok = AutoTokenizer.from_pretrained(qwen25_tokenizer_dir())
    tok.add_tokens(GLM4_SPECIAL, special_tokens=True)
    tok.eos_token = tok.pad_token = "<|endoftext|>"
    tok.chat_template = (TEMPLATES / "glm-4-chat.jinja").read_text(encoding="utf-8")
    tok.save_pretrained(out)
    config = AutoConfig.for_model(
        arch, vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=2048, pad_token_id=tok.pad_token_id,
        eos_token_id=[tok.eos_token_id, tok.convert_tokens_to_ids("<|user|>"),
                      tok.convert_tokens_to_ids("<|observation|>")],
    )
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(out, safe_serialization=True)
    return str(out)


@pytest.fixture(scope="session")
def chatglm_dir(tmp_path_factory) -> str:
    return build_chatglm_dir(tmp_path_factory.mktemp("chatglm") / "chatglm3-6b")


@pytest.fixture(scope="session")
def glm_dir(tmp_path_factory) -> str:
    return build_glm_dir(tmp_path_factory.mktemp("glm") / "glm-4-9b-chat-hf", "glm")


@pytest.fixture(scope="session")
def glm4_dir(tmp_path_factory) -> str:
    return build_glm_dir(tmp_path_factory.mktemp("glm4") / "GLM-4-9B-0414", "glm4")


@pytest.fixture(scope="session")
def tiny_models(chatglm_dir, glm_dir, glm4_dir) -> dict:
    """Every model -> a builder returning the session's stand-in of its architecture (:data:`ARCH`)."""
    from ftcore_chatglm.catalog import ARCH

    folders = {"chatglm": chatglm_dir, "glm": glm_dir, "glm4": glm4_dir}

    def builder(arch):
        def build(out):
            return folders[arch]

        build.__name__ = arch
        return build

    builders = {arch: builder(arch) for arch in folders}
    return {name: builders[arch] for name, arch in ARCH.items()}

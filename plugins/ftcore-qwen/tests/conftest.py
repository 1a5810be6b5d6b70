"""Tiny offline stand-ins of the Qwen architectures for this plugin's tests (built once per session).

* Qwen-1 / Qwen-VL: the stand-in remote code in ``fixtures/qwen1`` (class names, ``auto_map``, ``c_attn``,
  the tokenizer's missing eos / pad) + the real Qwen2.5 tokenizer.json, loaded with ``trust_remote_code``.
* Qwen1.5 / Qwen2 / Qwen2.5 / Qwen3: tiny random configs of the real transformers architectures.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
#: the stand-in Qwen-VL's image span (path bytes + pads; 256 in the real model)
VL_SPAN = 256


@functools.cache
def _vocab_size() -> int:
    """Largest token id + 1 of the Qwen2.5 tokenizer.json (parsed once per session: it takes seconds)."""
    from ftcore.testing import qwen25_tokenizer_dir

    vocab = json.loads((Path(qwen25_tokenizer_dir()) / "tokenizer.json").read_text(encoding="utf-8"))
    return max([*vocab["model"]["vocab"].values(), *(t["id"] for t in vocab["added_tokens"])]) + 1


def build_qwen1_dir(out: str | Path, *, visual: bool = False, seed: int = 0) -> str:
    """A tiny Qwen-1 (or Qwen-VL with ``visual=True``) folder that loads like the hub repo (remote code)."""
    out = Path(out)
    if (out / "model.safetensors").is_file():
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftcore.testing import qwen25_tokenizer_dir

    for src in (FIXTURES / "qwen1").glob("*.py"):
        shutil.copy(src, out / src.name)
    shutil.copy(Path(qwen25_tokenizer_dir()) / "tokenizer.json", out / "tokenizer.json")
    vocab_size = _vocab_size()
    tokenizer_config = {
        "auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]},
        "tokenizer_class": "QWenTokenizer",
        "model_max_length": 8192,
        "clean_up_tokenization_spaces": False,
    }
    if visual:  # Qwen-VL's image tokens, after the text vocabulary (the real ones are 151857-151859)
        tokenizer_config.update(image_start_id=vocab_size, image_span=VL_SPAN)
        vocab_size += 3
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    config = {
        "architectures": ["QWenLMHeadModel"],
        "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig",
                     "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"},
        "model_type": "qwen",
        "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "kv_channels": 8, "seq_length": 512, "max_position_embeddings": 512,
        "emb_dropout_prob": 0.0, "fp16": False, "bf16": False, "fp32": False, "use_flash_attn": "auto",
    }
    if visual:
        config["visual"] = {"width": 16, "output_dim": 32, "image_size": 16, "patch_size": 4, "n_queries": VL_SPAN,
                            "image_start_id": tokenizer_config["image_start_id"]}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(out, trust_remote_code=True)
    model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=True)
    model.save_pretrained(out, safe_serialization=True)
    return str(out)


@pytest.fixture(scope="session")
def qwen1_dir(tmp_path_factory) -> str:
    return build_qwen1_dir(tmp_path_factory.mktemp("qwen1") / "Qwen-7B-Chat")


@pytest.fixture(scope="session")
def qwen_vl_dir(tmp_path_factory) -> str:
    return build_qwen1_dir(tmp_path_factory.mktemp("qwen-vl") / "Qwen-VL-Chat", visual=True)


@pytest.fixture(scope="session")
def qwen2_dir(tmp_path_factory) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("qwen2") / "Qwen2.5-0.5B-Instruct", arch="qwen2")


@pytest.fixture(scope="session")
def qwen3_dir(tmp_path_factory) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("qwen3") / "Qwen3-0.6B", arch="qwen3")


@pytest.fixture(scope="session")
def tiny_models(qwen1_dir, qwen_vl_dir, qwen2_dir, qwen3_dir) -> dict:
    """Every registered Qwen model -> its tiny stand-in: a builder returning one of the session's folders (Qwen-1,
    Qwen-VL, Qwen2, Qwen3), or a transformers architecture the conformance kit builds (MoE, Qwen2-VL)."""
    from ftcore_qwen.catalog import ARCH, qwen_specs

    def qwen1(out):
        return qwen1_dir

    def qwen_vl(out):
        return qwen_vl_dir

    def qwen2(out):
        return qwen2_dir

    def qwen3(out):
        return qwen3_dir

    qwen_specs()  # fills ARCH
    builders = {"qwen": qwen1, "qwen-vl": qwen_vl, "qwen2": qwen2, "qwen3": qwen3}
    return {name: builders.get(arch, arch) for name, arch in ARCH.items()}

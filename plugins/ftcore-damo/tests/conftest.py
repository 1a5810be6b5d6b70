"""Tiny PolyLM (GPT-style ``c_attn`` blocks: transformers' GPT-2 classes) and SeqGPT (BLOOM) stand-ins."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    from ftcore.testing import build_chat_tokenizer_dir, build_tiny_model_dir

    root = tmp_path_factory.mktemp("damo")
    tok = build_chat_tokenizer_dir(root / "tokenizer", None, chat_template="", bos="<s>", eos="</s>", tokens=[])
    polylm = build_tiny_model_dir(root / "polylm-13b", "gpt2", tokenizer_dir=tok)
    seqgpt = build_tiny_model_dir(root / "SeqGPT-560M", "bloom", tokenizer_dir=tok)
    return {"polylm-13b": lambda out: polylm, "seqgpt-560m": lambda out: seqgpt}

"""A tiny Ziya2 stand-in: transformers' Llama classes with a Llama-shaped tokenizer (<s> / </s>; no chat_template,
as the Ziya2 checkpoints)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    from ftcore.testing import build_chat_tokenizer_dir, build_tiny_model_dir

    root = tmp_path_factory.mktemp("ziya")
    tok = build_chat_tokenizer_dir(root / "tokenizer", "llama2", chat_template="")
    folder = build_tiny_model_dir(root / "Ziya2-13B-Chat", "llama", tokenizer_dir=tok)
    return {"ziya2-*": lambda out: folder}

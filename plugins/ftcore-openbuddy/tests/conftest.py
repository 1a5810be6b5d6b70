"""Tiny OpenBuddy stand-ins: transformers' Llama / Mistral classes with a Llama-shaped tokenizer (<s> / </s>; the
OpenBuddy checkpoints ship no chat_template)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    from ftcore.testing import build_chat_tokenizer_dir, build_tiny_model_dir

    root = tmp_path_factory.mktemp("openbuddy")
    tok = build_chat_tokenizer_dir(root / "tokenizer", "llama2", chat_template="")
    llama = build_tiny_model_dir(root / "openbuddy-llama2", "llama", tokenizer_dir=tok)
    mistral = build_tiny_model_dir(root / "openbuddy-mistral", "mistral", tokenizer_dir=tok)
    return {"openbuddy-llama*": lambda out: llama, "openbuddy-mistral*": lambda out: mistral}

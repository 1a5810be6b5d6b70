"""Tiny Mistral / Mixtral stand-ins (transformers' own classes) with a Mistral-Instruct-shaped tokenizer."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def mistral_dir(tmp_path_factory) -> str:
    from ftcore.testing import build_chat_tokenizer_dir, build_tiny_model_dir

    root = tmp_path_factory.mktemp("mistral")
    tok = build_chat_tokenizer_dir(root / "tokenizer", "mistral")
    return build_tiny_model_dir(root / "Mistral-7B-Instruct", "mistral", tokenizer_dir=tok)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, mistral_dir) -> dict:
    from ftcore.testing import build_tiny_model_dir

    mixtral = build_tiny_model_dir(tmp_path_factory.mktemp("mixtral") / "Mixtral", "mixtral",
                                   tokenizer_dir=mistral_dir)
    return {"mistral-*": lambda out: mistral_dir, "mixtral-*": lambda out: mixtral}

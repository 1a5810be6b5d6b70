"""Tiny Llama folders (transformers' own Llama classes) with real-shaped Llama-2 / Llama-3 tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def build_llama_dir(out: str | Path, family: str = "llama2", *, pretraining_tp: int = 1) -> str:
    """A tiny Llama with the ``family`` chat tokenizer (``llama2`` / ``llama3``); config.json keeps
    ``pretraining_tp`` as written (the real 13B / 70B checkpoints say 2 or 4)."""
    from ftcore.testing import build_chat_tokenizer_dir, build_tiny_model_dir

    out = Path(out)
    tok = build_chat_tokenizer_dir(out.parent / f"{out.name}-tokenizer", family)
    folder = build_tiny_model_dir(out, "llama", tokenizer_dir=tok)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config["pretraining_tp"] = pretraining_tp
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def llama2_dir(tmp_path_factory) -> str:
    return build_llama_dir(tmp_path_factory.mktemp("llama2") / "Llama-2-13b-chat", "llama2", pretraining_tp=2)


@pytest.fixture(scope="session")
def llama3_dir(tmp_path_factory) -> str:
    return build_llama_dir(tmp_path_factory.mktemp("llama3") / "Llama-3.1-8B-Instruct", "llama3")


@pytest.fixture(scope="session")
def tiny_models(llama2_dir, llama3_dir) -> dict:
    def llama2(out):
        return llama2_dir

    def llama3(out):
        return llama3_dir

    return {"llama2-*": llama2, "llama3*": llama3}

"""Shared tiny models for the throughput tests (built once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    from ftcore.testing import build_tiny_model_dir

    root = tmp_path_factory.mktemp("throughput-models")
    return {
        "qwen2": build_tiny_model_dir(root / "qwen2", arch="qwen2"),
        "llama": build_tiny_model_dir(root / "llama", arch="llama"),
    }


def load_tiny(path: str, attn: str = "sdpa"):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
    model.eval()
    return model

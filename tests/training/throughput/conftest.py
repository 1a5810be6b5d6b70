"""Tiny random models for the throughput tests: the architectures of ftcore.testing, a 4k vocabulary (the head is
what these tests exercise; a 152k one would only make them slow)."""

from __future__ import annotations

import pytest

VOCAB = 4096


@pytest.fixture(scope="session")
def tiny_dirs():
    """Not folders: the arch names, resolved by :func:`load_tiny` (kept as a fixture for a stable test API)."""
    return {"qwen2": "qwen2", "llama": "llama"}


def load_tiny(arch: str, attn: str = "sdpa"):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftcore.testing import TINY_CONFIGS

    config = AutoConfig.for_model(arch, vocab_size=VOCAB, pad_token_id=0, **TINY_CONFIGS[arch])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation=attn)
    model.eval()
    return model

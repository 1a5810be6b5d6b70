"""Exporting a checkpoint for deployment: ``ftcore export CKPT --to gguf | ollama | safetensors | bnb | gptq | awq``.

The package sits beside ``ftcore.training`` in the import layers (above ``ftcore.inference``, whose merge and
checkpoint loading it uses). Names resolve on first use so importing the package loads nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "export_checkpoint": "ftcore.export.main:export_checkpoint",
    "FORMATS": "ftcore.export.main:FORMATS",
    "jinja_chat_template": "ftcore.export.chat:jinja_chat_template",
    "ollama_template": "ftcore.export.chat:ollama_template",
    "render_go_template": "ftcore.export.chat:render_go_template",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ftcore.export' has no attribute {name!r}")
    module, attr = _LAZY[name].split(":")
    return getattr(importlib.import_module(module), attr)

"""ftcore-qwen: the Qwen family (Qwen-1, Qwen-VL, Qwen1.5, Qwen2, Qwen2.5, Qwen3, Qwen2-VL, Qwen2.5-VL).

The catalog is declarative (:mod:`ftcore_qwen.catalog`). What the generic loader cannot do alone (Qwen-1 /
Qwen-VL remote code and its tokenizer quirks, the GPTQ checkpoints' dependency check) lives in
:class:`ftcore.ModelLoader` subclasses (:mod:`ftcore_qwen.loading`) that the catalog names in
``ModelSpec.loader``; ``load_model`` applies them to ad-hoc folders of those models. Everything else falls through
to the core's built-in loader. No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ftcore
from ftcore import ModelOptions, ModelSpec, TemplateSpec
from ftcore_qwen.catalog import ARCH, qwen_specs
from ftcore_qwen.templates import QWEN_TEMPLATES

__all__ = ["ARCH", "load_model", "register_models", "register_templates"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in qwen_specs():
        register(spec)


@ftcore.hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    for spec in QWEN_TEMPLATES:
        register(spec)


@ftcore.hookimpl
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore_qwen.loading import load_qwen

    return load_qwen(spec, options)

"""ftcore-chatglm: ChatGLM2 and ChatGLM3 (remote code, ``query_key_value`` LoRA target) and GLM-4 (GLM-4-9B-Chat,
the GLM-4-0414 series: transformers' own ``Glm`` / ``Glm4`` classes).

The catalog is declarative (:mod:`ftcore_chatglm.catalog`); ChatGLM2 / ChatGLM3 load through
:class:`ftcore_chatglm.loading.ChatGLMLoader` (remote code, the head kept out of 8/4-bit quantization, the loss's
device fix), named in each spec's ``loader``; GLM-4 loads with the core's generic loader. ``chatglm2`` /
``chatglm2-generation`` ship with the core; ``chatglm3`` and ``glm4`` (:mod:`ftcore_chatglm.templates`) render with
the tokenizer's own chat_template. No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ftcore
from ftcore import ModelOptions, ModelSpec, TemplateSpec
from ftcore_chatglm.catalog import ARCH, chatglm_specs
from ftcore_chatglm.templates import CHATGLM_TEMPLATES

__all__ = ["ARCH", "load_model", "register_models", "register_templates"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in chatglm_specs():
        register(spec)


@ftcore.hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    for spec in CHATGLM_TEMPLATES:
        register(spec)


@ftcore.hookimpl
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore_chatglm.loading import load_chatglm

    return load_chatglm(spec, options)

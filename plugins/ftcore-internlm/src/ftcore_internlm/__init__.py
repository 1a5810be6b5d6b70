"""ftcore-internlm: InternLM-7B / 20B (+ chat, ms-swift's models), InternLM2, InternLM2.5 and InternLM3 chat.

All of them run the hub repo's own code (``trust_remote_code``). The catalog is declarative
(:mod:`ftcore_internlm.catalog`); loading is done by :class:`ftcore.ModelLoader` subclasses
(:mod:`ftcore_internlm.loading`) named in each spec's ``loader``; ``load_model`` applies them to ad-hoc InternLM
folders. InternLM-1 chat uses the core's ``internlm`` template; the successors use ``internlm2``
(:mod:`ftcore_internlm.templates`, ChatML-like with InternLM's default system prompt). No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ftcore
from ftcore import ModelOptions, ModelSpec, TemplateSpec
from ftcore_internlm.catalog import ARCH, internlm_specs
from ftcore_internlm.templates import INTERNLM_TEMPLATES

__all__ = ["ARCH", "load_model", "register_models", "register_templates"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in internlm_specs():
        register(spec)


@ftcore.hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    for spec in INTERNLM_TEMPLATES:
        register(spec)


@ftcore.hookimpl
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore_internlm.loading import load_internlm

    return load_internlm(spec, options)

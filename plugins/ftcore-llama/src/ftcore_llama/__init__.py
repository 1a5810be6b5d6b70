"""ftcore-llama: Llama 2 (ms-swift's six models) and its successors Llama 3 / 3.1 / 3.2 / 3.3 (base + instruct).

The catalog is declarative (:mod:`ftcore_llama.catalog`); Llama-2's ``pretraining_tp = 1`` loading step is a
:class:`ftcore.ModelLoader` subclass (:mod:`ftcore_llama.loading`) named in each spec's ``loader``; ``load_model``
applies it to ad-hoc Llama folders whose config asks for tensor-parallel pretraining slices. The ``llama``
template ships with the core; this plugin adds ``llama3`` (``<|eot_id|>`` turn ends). No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ftcore
from ftcore import ModelOptions, ModelSpec, TemplateSpec
from ftcore_llama.catalog import FAMILY, LLAMA3_TEMPLATE, llama_specs

__all__ = ["FAMILY", "load_model", "register_models", "register_templates"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in llama_specs():
        register(spec)


@ftcore.hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(LLAMA3_TEMPLATE)


@ftcore.hookimpl
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore_llama.loading import load_llama

    return load_llama(spec, options)

"""ftcore-baichuan: Baichuan and Baichuan2 (remote code, ``W_pack`` LoRA target, the core's ``baichuan`` template).

The catalog is declarative (:mod:`ftcore_baichuan.catalog`); the family's loading steps (Baichuan-13B's embedding
accessor, Baichuan2-13B's config fix, Baichuan2's NormHead, the 4-bit checkpoints) are :class:`ftcore.ModelLoader`
subclasses (:mod:`ftcore_baichuan.loading`) named in each spec's ``loader``; ``load_model`` applies them to ad-hoc
Baichuan folders.
The ``baichuan`` template itself ships with the core. No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore_baichuan.catalog import FAMILY, baichuan_specs

__all__ = ["FAMILY", "load_model", "register_models"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in baichuan_specs():
        register(spec)


@ftcore.hookimpl
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore_baichuan.loading import load_baichuan

    return load_baichuan(spec, options)

"""ftcore-xverse: XVERSE-7B / XVERSE-13B and their chat models (remote code, q/k/v LoRA targets, the core's
``xverse`` template).

The catalog is declarative (:mod:`ftcore_xverse.catalog`); loading is the :class:`ftcore.ModelLoader` subclass
:class:`ftcore_xverse.loading.XverseLoader` (remote code, its own attention), named in each spec's ``loader``;
``load_model`` applies it to ad-hoc XVERSE folders. The ``xverse`` template ships with the core. No torch at
import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore_xverse.catalog import SEED_MODELS, xverse_specs

__all__ = ["SEED_MODELS", "load_model", "register_models"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in xverse_specs():
        register(spec)


@ftcore.hookimpl
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore_xverse.loading import load_xverse

    return load_xverse(spec, options)

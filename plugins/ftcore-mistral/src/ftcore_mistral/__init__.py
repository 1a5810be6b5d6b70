"""ftcore-mistral: Mistral 7B, Mistral-7B-Instruct v0.1-v0.3, Mixtral-8x7B-Instruct, Mistral-Nemo-Instruct.

The catalog is declarative (:mod:`ftcore_mistral.catalog`); loading goes through the
:class:`ftcore.ModelLoader` subclasses of :mod:`ftcore_mistral.loading` named in each spec's ``loader``.
No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import ModelSpec
from ftcore_mistral.catalog import SEED_MODELS, mistral_specs

__all__ = ["SEED_MODELS", "register_models"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in mistral_specs():
        register(spec)

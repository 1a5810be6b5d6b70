"""ftcore-openbuddy: OpenBuddy (Llama / Mistral based multilingual chat models).

The catalog is declarative (:mod:`ftcore_openbuddy.catalog`); loading goes through the
:class:`ftcore.ModelLoader` subclasses of :mod:`ftcore_openbuddy.loading` named in each spec's ``loader``.
No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import ModelSpec
from ftcore_openbuddy.catalog import SEED_MODELS, openbuddy_specs

__all__ = ["SEED_MODELS", "register_models"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in openbuddy_specs():
        register(spec)

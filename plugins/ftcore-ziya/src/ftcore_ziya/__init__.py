"""ftcore-ziya: Ziya2 (Fengshenbang / IDEA-CCNL, Llama 2 based).

The catalog is declarative (:mod:`ftcore_ziya.catalog`); loading goes through the
:class:`ftcore.ModelLoader` subclasses of :mod:`ftcore_ziya.loading` named in each spec's ``loader``.
No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import ModelSpec
from ftcore_ziya.catalog import SEED_MODELS, ziya_specs

__all__ = ["SEED_MODELS", "register_models"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in ziya_specs():
        register(spec)

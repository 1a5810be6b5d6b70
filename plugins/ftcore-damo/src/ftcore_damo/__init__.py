"""ftcore-damo: DAMO Academy's PolyLM and SeqGPT.

The catalog is declarative (:mod:`ftcore_damo.catalog`); loading goes through the
:class:`ftcore.ModelLoader` subclasses of :mod:`ftcore_damo.loading` named in each spec's ``loader``.
No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import ModelSpec
from ftcore_damo.catalog import SEED_MODELS, damo_specs

__all__ = ["SEED_MODELS", "register_models"]


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in damo_specs():
        register(spec)

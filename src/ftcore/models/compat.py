"""Calls into peft that would print transformers 5 deprecation warnings ftcore's users cannot act on."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: peft still reads ``model.is_gradient_checkpointing`` (and calls ``gradient_checkpointing_enable`` for k-bit
#: training), which transformers 5 renamed to ``*activation_checkpointing*``; ftcore itself uses the new names
_PEFT_DEPRECATIONS = r"`(is_)?gradient_checkpointing(_enable|_disable|_kwargs)?` is deprecated"


@contextmanager
def quiet_peft_deprecations() -> Iterator[None]:
    """Hide the transformers 5 deprecation warnings peft's own calls raise (each train / infer showed them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PEFT_DEPRECATIONS, category=FutureWarning)
        yield

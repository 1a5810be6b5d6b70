"""Built-in datasets: local files and hub datasets (``load_dataset``, trylast) and the bundled quick-start data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftcore.hookspecs import hookimpl
from ftcore.specs import DatasetOptions, DatasetSpec


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name="self-cognition-mini",
            path="builtin:self_cognition.jsonl",
            task="chat",
            languages=["en", "zh"],
            tags=["quickstart"],
            description="bilingual 'who are you / what can you do' pairs for the quick start",
        )
    )


@hookimpl(trylast=True)
def load_dataset(spec: DatasetSpec, options: DatasetOptions) -> Any:
    from ftcore.data.hub import load_spec

    return load_spec(spec, options)

"""ftcore-datasets-zh: the seed's Chinese datasets with a preprocessing function for each raw schema."""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import DatasetSpec


@ftcore.hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name="blossom-math-zh",
            hub={"modelscope": "AI-ModelScope/blossom-math-v2"},
            task="chat",
            languages=["zh"],
        )
    )

"""ftcore-datasets-zh: ms-swift's Chinese datasets with a preprocessing function for each raw schema.

Importing this module is cheap (no torch, no datasets): the specs are plain dataclasses and the
preprocessing functions are pure Python. See README.md and docs/datasets.md for the table.
"""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import DatasetSpec
from ftcore_datasets_zh.datasets import specs
from ftcore_datasets_zh.preference import preference_specs

__all__ = ["preference_specs", "register_datasets", "specs"]


@ftcore.hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for spec in [*specs(), *preference_specs()]:
        register(spec)

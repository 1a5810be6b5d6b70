"""Show an encoded sample as text with its loss-bearing spans marked (``ftcore template encode``)."""

from __future__ import annotations

import itertools
from typing import Any

from ftcore.templates.messages import IGNORE_INDEX


def label_runs(tokenizer: Any, input_ids: list[int], labels: list[int]) -> list[tuple[bool, str]]:
    """``[(labelled, text), ...]``: the decoded text of each run of tokens that do / do not carry loss."""
    out: list[tuple[bool, str]] = []
    for labelled, group in itertools.groupby(zip(input_ids, labels, strict=True), key=lambda p: p[1] != IGNORE_INDEX):
        ids = [t for t, _ in group]
        out.append((labelled, tokenizer.decode(ids)))
    return out


def labelled_texts(tokenizer: Any, encoded: dict[str, list[int]]) -> list[str]:
    """The decoded text of each run of labelled tokens."""
    return [text for labelled, text in label_runs(tokenizer, encoded["input_ids"], encoded["labels"]) if labelled]


def bracketed(runs: list[tuple[bool, str]], open_: str = "[[", close: str = "]]") -> str:
    """The text with every labelled run wrapped in ``[[…]]`` (for pipes and files)."""
    return "".join(f"{open_}{text}{close}" if labelled else text for labelled, text in runs)

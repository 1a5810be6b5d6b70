"""Batching encoded samples: right padding with the pad token, ``-100`` labels on padding, an attention mask.

``make_collator(cfg, tokenizer)`` picks the padding collator, or the packed one (:mod:`ftcore.data.packing`)
with ``data.packing = true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its eos id (many causal LMs have no pad token), else 0."""
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tok, attr, None)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, int):
            return value
    return 0


@dataclass
class DataCollator:
    """Right-pads ``input_ids`` with ``pad_token_id`` and ``labels`` with -100, and adds ``attention_mask``.

    Features are dicts with ``input_ids`` and ``labels`` (other keys are ignored). ``pad_to_multiple_of`` rounds
    the padded length up (tensor cores like multiples of 8); ``max_length`` cuts longer rows (a safety net:
    the template already truncates). ``packing=True`` hands the batch to :class:`ftcore.data.packing.PackedCollator`.
    """

    pad_token_id: int
    packing: bool = False
    pad_to_multiple_of: int | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        self._packed = None
        if self.packing:
            from ftcore.data.packing import PackedCollator

            self._packed = PackedCollator(pad_token_id=self.pad_token_id, pad_to_multiple_of=self.pad_to_multiple_of)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if self._packed is not None:
            return self._packed(features)
        import torch

        rows = []
        for f in features:
            ids = list(f["input_ids"])
            labels = list(f["labels"]) if f.get("labels") is not None else list(ids)
            if self.max_length is not None:
                ids, labels = ids[: self.max_length], labels[: self.max_length]
            rows.append((ids, labels))
        width = max((len(ids) for ids, _ in rows), default=0)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            width = (width + m - 1) // m * m
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels_t = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, (ids, labels) in enumerate(rows):
            n = len(ids)
            if n:
                input_ids[k, :n] = torch.tensor(ids, dtype=torch.long)
                labels_t[k, :n] = torch.tensor(labels, dtype=torch.long)
                mask[k, :n] = 1
        return {"input_ids": input_ids, "labels": labels_t, "attention_mask": mask}


def make_collator(cfg: Any, tokenizer: Any) -> Any:
    """The run's collator: padding (default) or packing (``data.packing``)."""
    return DataCollator(pad_token_id=pad_token_id(tokenizer), packing=bool(cfg.data.packing))

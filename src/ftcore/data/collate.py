"""Batching encoded samples: right padding with the pad token, ``-100`` labels on padding, an attention mask.

``make_collator(cfg, tokenizer)`` picks the padding collator, or the packed one (:mod:`ftcore.data.packing`)
with ``data.packing = true``.

Multimodal batches (features with ``pixel_values``, see docs/multimodal.md) go to the template's
``collate(features)`` first when it takes images (:class:`ftcore.templates.MultimodalTemplate`); when that
returns None, the text is padded as above, the per-image tensors
(``pixel_values``, ``image_grid_thw``, …) are concatenated over the batch, per-token lists are padded with 0, and
``mm_token_type_ids`` (1 = image token) is added from the model's ``image_token_id``. They are never packed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from ftcore.templates.messages import IGNORE_INDEX
from ftcore.templates.protocol import MultimodalTemplate, TemplateProtocol

#: keys of an encoded sample that are not extra model inputs
TEXT_KEYS = ("input_ids", "labels", "length", "attention_mask")


def has_pixels(feature: dict[str, Any]) -> bool:
    """Whether an encoded sample carries images (a non-empty ``pixel_values``)."""
    value = feature.get("pixel_values")
    if value is None:
        return False
    return bool(value.numel()) if hasattr(value, "numel") else len(value) > 0


def image_token_ids(*sources: Any) -> tuple[int, ...]:
    """``image_token_id`` / ``video_token_id`` of the first source (model config, tokenizer) that has them; ()
    when none does."""
    for source in sources:
        if source is None:
            continue
        config = getattr(source, "config", None)
        for obj in (source, config, getattr(config, "text_config", None)):
            ids = tuple(v for v in (getattr(obj, "image_token_id", None), getattr(obj, "video_token_id", None))
                        if isinstance(v, int) and not isinstance(v, bool))
            if ids:
                return ids
    return ()


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
    #: multimodal batches go to ``template.collate(features)`` first when the template takes images
    template: TemplateProtocol | None = None
    #: token ids marked 1 in ``mm_token_type_ids`` (see :func:`image_token_ids`)
    image_token_ids: tuple[int, ...] = ()
    #: pad every batch up to the smallest of these lengths that holds it (``train.compile``: few shapes)
    bucket_lengths: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self._packed = None
        if self.packing:
            from ftcore.data.packing import PackedCollator

            self._packed = PackedCollator(pad_token_id=self.pad_token_id, pad_to_multiple_of=self.pad_to_multiple_of,
                                          bucket_lengths=self.bucket_lengths)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if any(has_pixels(f) for f in features):
            return self._multimodal(features)
        if self._packed is not None:
            return self._packed(features)
        return self._pad(features)

    def _multimodal(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if self._packed is not None:
            from ftcore.errors import FtcoreError

            raise FtcoreError("data.packing: samples with images cannot be packed; set data.packing = false")
        if self.template is not None and self.template.takes_images:
            own = cast(MultimodalTemplate, self.template).collate(features)
            if own is not None:
                return dict(own)
        import torch

        batch = self._pad(features)
        width = batch["input_ids"].shape[1]
        keys = [k for k in dict.fromkeys(k for f in features for k in f) if k not in TEXT_KEYS]
        for key in keys:
            values = [f.get(key) for f in features]
            if all(_per_token(v, f) for v, f in zip(values, features, strict=True) if v is not None and len(v)):
                out = torch.zeros((len(features), width), dtype=torch.long)
                for k, v in enumerate(values):
                    if v is not None and len(v):
                        row = torch.as_tensor(v, dtype=torch.long)[:width]
                        out[k, : len(row)] = row
                batch[key] = out
                continue
            parts = [torch.as_tensor(v) for v in values if v is not None and len(v)]
            if parts:
                dtype = torch.float32 if parts[0].is_floating_point() else torch.long
                batch[key] = torch.cat([p.to(dtype) for p in parts])
        if "mm_token_type_ids" not in batch and self.image_token_ids:
            ids = torch.tensor(self.image_token_ids, dtype=torch.long)
            batch["mm_token_type_ids"] = torch.isin(batch["input_ids"], ids).long() * batch["attention_mask"]
        return batch

    def _pad(self, features: list[dict[str, Any]]) -> dict[str, Any]:
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
        from ftcore.data.packing import bucket_width

        width = bucket_width(width, self.bucket_lengths)
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


def _per_token(value: Any, feature: dict[str, Any]) -> bool:
    """A flat list as long as the sample's ``input_ids`` (e.g. ``mm_token_type_ids``), padded rather than
    concatenated."""
    if hasattr(value, "dim"):
        return value.dim() == 1 and len(value) == len(feature["input_ids"])
    return len(value) == len(feature["input_ids"]) and not isinstance(value[0], (list, tuple))


def make_collator(cfg: Any, tokenizer: Any, *, template: TemplateProtocol | None = None, model: Any = None) -> Any:
    """The run's collator: padding (default) or packing (``data.packing``). ``template`` and ``model`` serve
    multimodal batches (the template's ``collate`` hook; the model's ``image_token_id``)."""
    return DataCollator(pad_token_id=pad_token_id(tokenizer), packing=bool(cfg.data.packing), template=template,
                        image_token_ids=image_token_ids(model, tokenizer))

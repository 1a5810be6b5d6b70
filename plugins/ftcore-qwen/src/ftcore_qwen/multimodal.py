"""Qwen2-VL / Qwen2.5-VL supervised fine-tuning with images: the ``qwen2-vl`` template.

The template is ChatML; each image of a sample becomes ``<|vision_start|><|image_pad|>…<|vision_end|>`` with one
``<|image_pad|>`` per merged vision patch (``grid_t * grid_h * grid_w / merge_size**2``), at an ``<image>``
placeholder in a user turn (Qwen-VL's ``<img>PATH</img>`` tags, as in ms-swift's coco-en, count as placeholders)
or, without placeholders, at the start of the first user turn. ``encode`` returns
``pixel_values`` and ``image_grid_thw`` (from the model's image processor, PIL backend) next to ``input_ids`` and
``labels``; image tokens never carry loss. A sample with images is never truncated (cutting image tokens would
misalign them with the pixels): one longer than ``max_length`` is skipped as ``too long``.

Batches go through the core's collator (``ftcore.data.DataCollator``: text padded, pixel inputs concatenated,
``mm_token_type_ids`` from the model's ``image_token_id``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ftcore import FtcoreError
from ftcore.templates import IGNORE_INDEX, SkipSample, Template

IMAGE_PLACEHOLDER = "<image>"
VISION_START, IMAGE_PAD, VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"
IMAGE_BLOCK = f"{VISION_START}{IMAGE_PAD}{VISION_END}"


def load_image(item: Any) -> Any:
    """A PIL image (RGB) from a path or a PIL image."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, Path)):
        path = Path(str(item)).expanduser()
        if not path.is_file():
            from ftcore.templates import SkipSample

            raise SkipSample("image not found", str(item))
        with Image.open(path) as img:
            return img.convert("RGB")
    raise FtcoreError(f"image of type {type(item).__name__}: give a file path or a PIL image")


def image_processor_for(tokenizer: Any) -> Any:
    """The model's image processor: a processor's own, else loaded from the tokenizer's folder (PIL backend)."""
    own = getattr(tokenizer, "image_processor", None)
    if own is not None:
        return own
    folder = getattr(tokenizer, "name_or_path", None)
    if folder and Path(folder, "preprocessor_config.json").is_file():
        try:
            from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

            return Qwen2VLImageProcessorPil.from_pretrained(folder)
        except ImportError:  # pragma: no cover - other transformers versions
            from transformers import AutoImageProcessor

            return AutoImageProcessor.from_pretrained(folder)
    return None


def _with_image_blocks(messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
    """Messages whose ``<image>`` placeholders (or, if none, the first user turn) hold the image blocks."""
    from ftcore_qwen.qwen_vl import IMG_TAG

    out = [dict(m) for m in messages]
    placed = 0
    for m in out:
        if m.get("role") == "user" and isinstance(m.get("content"), str) and "<img>" in m["content"]:
            # Qwen-VL's form (ms-swift's coco-en): <img>PATH</img> marks where the image goes
            m["content"] = IMG_TAG.sub(IMAGE_PLACEHOLDER, m["content"])
        if m.get("role") == "user" and isinstance(m.get("content"), str) and IMAGE_PLACEHOLDER in m["content"]:
            placed += m["content"].count(IMAGE_PLACEHOLDER)
            m["content"] = m["content"].replace(IMAGE_PLACEHOLDER, IMAGE_BLOCK)
    if placed == 0:
        for m in out:
            if m.get("role") == "user":
                m["content"] = IMAGE_BLOCK * n_images + str(m.get("content") or "")
                placed = n_images
                break
    if placed != n_images:
        from ftcore.templates import SkipSample

        raise SkipSample("image count mismatch", f"{placed} <image> placeholders for {n_images} images")
    return out


class Qwen2VLTemplate(Template):
    """ChatML with Qwen2-VL image blocks; ``encode(messages, images)`` adds the pixel inputs."""

    takes_images = True
    image_placeholder = IMAGE_PLACEHOLDER
    image_processor: Any = None
    #: the image blocks this template writes into user turns stay special tokens
    content_specials = (VISION_START, IMAGE_PAD, VISION_END)

    def _vision(self, images: list[Any]) -> tuple[dict[str, Any], list[int]]:
        processor = self.image_processor or image_processor_for(self.processor)
        if processor is None:
            raise FtcoreError(
                f"template {self.name!r}: images need the model's image processor "
                "(preprocessor_config.json in the model folder)"
            )
        self.image_processor = processor
        pixels = processor(images=[load_image(i) for i in images], return_tensors="pt")
        merge = int(getattr(processor, "merge_size", 2))
        counts = [int(g.prod()) // (merge * merge) for g in pixels["image_grid_thw"]]
        return pixels, counts

    def _expand(self, ids: list[int], labels: list[int], counts: list[int]) -> tuple[list[int], list[int]]:
        pad = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        vision = {pad, self.tokenizer.convert_tokens_to_ids(VISION_START),
                  self.tokenizer.convert_tokens_to_ids(VISION_END)}
        out_ids: list[int] = []
        out_labels: list[int] = []
        it = iter(counts)
        for token, label in zip(ids, labels, strict=True):
            if token == pad:
                n = next(it, None)
                if n is None:
                    raise SkipSample("image count mismatch", "more image tokens than images")
                out_ids.extend([pad] * n)
                out_labels.extend([IGNORE_INDEX] * n)
            else:
                out_ids.append(token)
                out_labels.append(IGNORE_INDEX if token in vision else label)
        if next(it, None) is not None:
            raise SkipSample("image count mismatch", "fewer image tokens than images")
        return out_ids, out_labels

    def encode(self, messages: Any, images: Any = None) -> dict[str, Any]:
        if not images:
            return super().encode(messages)
        pixels, counts = self._vision(list(images))
        limit, self.max_length = self.max_length, None
        try:
            enc = super().encode(_with_image_blocks(list(messages), len(counts)))
        finally:
            self.max_length = limit
        ids, labels = self._expand(enc["input_ids"], enc["labels"], counts)
        if limit is not None and len(ids) > limit:
            raise SkipSample("too long", f"{len(ids)} tokens with images > max_length {limit}")
        return {
            "input_ids": ids,
            "labels": labels,
            "pixel_values": pixels["pixel_values"].tolist(),
            "image_grid_thw": pixels["image_grid_thw"].tolist(),
        }

    def encode_prompt_with_images(self, messages: Any, images: Any = None) -> dict[str, Any]:
        """The generation prompt plus the pixel inputs (inference with images)."""
        if not images:
            return {"input_ids": self.encode_prompt(messages)}
        pixels, counts = self._vision(list(images))
        ids = self.encode_prompt(_with_image_blocks(list(messages), len(counts)))
        ids, _ = self._expand(ids, [IGNORE_INDEX] * len(ids), counts)
        pad = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        return {"input_ids": ids, "pixel_values": pixels["pixel_values"],
                "image_grid_thw": pixels["image_grid_thw"],
                "mm_token_type_ids": [1 if i == pad else 0 for i in ids]}

    @classmethod
    def build(cls, spec: Any, tokenizer: Any) -> Any:
        """The encoder for the ``qwen2-vl`` template (text-only samples encode as plain ChatML)."""
        return cls(dataclasses.replace(spec, kind="parts"), tokenizer)


"""Templates whose images become blocks of image tokens in the text (Qwen2-VL's form, and templates like it).

Each image of a sample becomes ``start + pad * n + end`` at an ``<image>`` placeholder of a user turn (without
placeholders: at the start of the first user turn), where ``n`` is the number of merged vision patches the model's
image processor makes of it (``grid_t * grid_h * grid_w / merge_size**2``). ``encode`` adds the processor's
``pixel_values`` / ``image_grid_thw``; image tokens never carry loss; a sample with images is never truncated (one
longer than ``max_length`` is skipped as ``too long``). A family subclasses :class:`ImageBlockTemplate` and sets
its tokens, or overrides :meth:`~ImageBlockTemplate.image_processor_of` / :meth:`~ImageBlockTemplate.mark_images`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.specs import TemplateSpec
from ftcore.templates.base import Template
from ftcore.templates.messages import IGNORE_INDEX, SkipSample

__all__ = ["ImageBlockTemplate", "load_image"]


def load_image(item: Any) -> Any:
    """A PIL image (RGB) from a path or a PIL image; a missing file skips the sample."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, Path)):
        path = Path(str(item)).expanduser()
        if not path.is_file():
            raise SkipSample("image not found", str(item))
        with Image.open(path) as img:
            return img.convert("RGB")
    raise FtcoreError(f"image of type {type(item).__name__}: give a file path or a PIL image")


class ImageBlockTemplate(Template):
    """A parts template whose ``encode(messages, images)`` writes image blocks and adds the pixel inputs."""

    takes_images = True
    image_placeholder = "<image>"
    vision_start, image_pad, vision_end = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"
    image_processor: Any = None

    @property
    def content_specials(self) -> tuple[str, ...]:  # type: ignore[override]
        """The image blocks this template writes into user turns stay special tokens."""
        return (self.vision_start, self.image_pad, self.vision_end)

    @classmethod
    def build(cls, spec: TemplateSpec, tokenizer: Any) -> Template:
        """Text-only samples encode as the spec's parts template."""
        return cls(dataclasses.replace(spec, kind="parts"), tokenizer)

    def image_processor_of(self) -> Any:
        """The model's image processor: the processor's own, else loaded from the tokenizer's folder."""
        own = getattr(self.processor, "image_processor", None)
        if own is not None:
            return own
        folder = getattr(self.tokenizer, "name_or_path", None)
        if not folder or not Path(folder, "preprocessor_config.json").is_file():
            raise FtcoreError(f"template {self.name!r}: images need the model's image processor "
                              "(preprocessor_config.json in the model folder)")
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(folder)

    def mark_images(self, messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
        """Messages whose placeholders (or, without any, the first user turn) hold one image block each."""
        block = f"{self.vision_start}{self.image_pad}{self.vision_end}"
        out = [dict(m) for m in messages]
        users = [m for m in out if m.get("role") == "user" and isinstance(m.get("content"), str)]
        placed = sum(m["content"].count(self.image_placeholder) for m in users)
        if placed:
            for m in users:
                m["content"] = m["content"].replace(self.image_placeholder, block)
        elif users:
            users[0]["content"] = block * n_images + users[0]["content"]
            placed = n_images
        if placed != n_images:
            raise SkipSample("image count mismatch",
                             f"{placed} {self.image_placeholder} placeholders for {n_images} images")
        return out

    def vision_inputs(self, images: list[Any]) -> tuple[Any, list[int]]:
        """The processor's pixel inputs and the number of image tokens of each image."""
        if self.image_processor is None:
            self.image_processor = self.image_processor_of()
        processor = self.image_processor
        pixels = processor(images=[load_image(i) for i in images], return_tensors="pt")
        merge = int(getattr(processor, "merge_size", 2))
        return pixels, [int(g.prod()) // (merge * merge) for g in pixels["image_grid_thw"]]

    def expand_images(self, ids: list[int], labels: list[int], counts: list[int]) -> tuple[list[int], list[int]]:
        """Each pad token repeated as often as its image needs; image tokens carry no loss."""
        tok = self.tokenizer
        pad = tok.convert_tokens_to_ids(self.image_pad)
        vision = {pad, tok.convert_tokens_to_ids(self.vision_start), tok.convert_tokens_to_ids(self.vision_end)}
        out_ids: list[int] = []
        out_labels: list[int] = []
        it = iter(counts)
        for token, label in zip(ids, labels, strict=True):
            if token == pad:
                n = next(it, None)
                if n is None:
                    raise SkipSample("image count mismatch", "more image tokens than images")
                out_ids += [pad] * n
                out_labels += [IGNORE_INDEX] * n
            else:
                out_ids.append(token)
                out_labels.append(IGNORE_INDEX if token in vision else label)
        if next(it, None) is not None:
            raise SkipSample("image count mismatch", "fewer image tokens than images")
        return out_ids, out_labels

    def encode(self, messages: Any, images: Any = None) -> dict[str, Any]:
        if not images:
            return super().encode(messages)
        pixels, counts = self.vision_inputs(list(images))
        limit, self.max_length = self.max_length, None
        try:
            enc = super().encode(self.mark_images(list(messages), len(counts)))
        finally:
            self.max_length = limit
        ids, labels = self.expand_images(enc["input_ids"], enc["labels"], counts)
        if limit is not None and len(ids) > limit:
            raise SkipSample("too long", f"{len(ids)} tokens with images > max_length {limit}")
        return {"input_ids": ids, "labels": labels, "pixel_values": pixels["pixel_values"].tolist(),
                "image_grid_thw": pixels["image_grid_thw"].tolist()}

    def encode_prompt_with_images(self, messages: Any, images: Any = None) -> dict[str, Any]:
        """The generation prompt plus the pixel inputs (inference with images)."""
        if not images:
            return {"input_ids": self.encode_prompt(messages)}
        pixels, counts = self.vision_inputs(list(images))
        ids = self.encode_prompt(self.mark_images(list(messages), len(counts)))
        ids, _ = self.expand_images(ids, [IGNORE_INDEX] * len(ids), counts)
        pad = self.tokenizer.convert_tokens_to_ids(self.image_pad)
        return {"input_ids": ids, "pixel_values": pixels["pixel_values"], "image_grid_thw": pixels["image_grid_thw"],
                "mm_token_type_ids": [1 if i == pad else 0 for i in ids]}

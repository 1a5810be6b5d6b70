"""A multimodal test template of the core's own, for the tiny Qwen2-VL-architecture model that
:func:`ftcore.testing.conformance.build_tiny_dir` builds (``arch="qwen2_vl"``).

The core's multimodal tests use it instead of a family plugin's template: ChatML, where each image becomes
``<|vision_start|>`` + one ``<|image_pad|>`` per merged vision patch + ``<|vision_end|>`` at an ``<image>``
placeholder of a user turn (without placeholders: at the start of the first user turn); ``encode`` adds
``pixel_values`` / ``image_grid_thw`` from the model folder's image processor. Image tokens carry no loss. A
sample with images is never truncated (one longer than ``max_length`` is skipped as ``too long``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.specs import TemplateSpec
from ftcore.templates.base import IGNORE_INDEX, SkipSample, Template

IMAGE_PLACEHOLDER = "<image>"
VISION_START, IMAGE_PAD, VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"
IMAGE_BLOCK = f"{VISION_START}{IMAGE_PAD}{VISION_END}"

#: the catalog entry of the test template (not registered by default: tests build it or register it)
TINY_VISION_TEMPLATE = TemplateSpec(
    name="ftcore-tiny-vl",
    prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
    prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
    chat_sep=["<|im_end|>\n"],
    suffix=["<|im_end|>\n"],
    system="You are a helpful assistant.",
    stop_words=["<|im_end|>", "<|endoftext|>"],
    kind="custom",
    template_class="ftcore.testing.vision:TinyVisionTemplate",
    tags=["multimodal"],
    description="test template: ChatML with Qwen2-VL image blocks (for the tiny qwen2_vl model)",
)


def _image(item: Any) -> Any:
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    path = Path(str(item)).expanduser()
    if not path.is_file():
        raise SkipSample("image not found", str(item))
    with Image.open(path) as img:
        return img.convert("RGB")


def _with_image_blocks(messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    users = [m for m in out if m.get("role") == "user" and isinstance(m.get("content"), str)]
    placed = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in users)
    if placed:
        for m in users:
            m["content"] = m["content"].replace(IMAGE_PLACEHOLDER, IMAGE_BLOCK)
    elif users:
        users[0]["content"] = IMAGE_BLOCK * n_images + users[0]["content"]
        placed = n_images
    if placed != n_images:
        raise SkipSample("image count mismatch", f"{placed} {IMAGE_PLACEHOLDER} placeholders for {n_images} images")
    return out


class TinyVisionTemplate(Template):
    """ChatML with Qwen2-VL image blocks; implements :class:`ftcore.templates.MultimodalTemplate`."""

    takes_images = True
    image_placeholder = IMAGE_PLACEHOLDER
    image_processor: Any = None
    #: the image blocks this template writes into user turns stay special tokens
    content_specials = (VISION_START, IMAGE_PAD, VISION_END)

    @classmethod
    def build(cls, spec: TemplateSpec, tokenizer: Any) -> Template:
        return cls(dataclasses.replace(spec, kind="parts"), tokenizer)

    def _vision(self, images: list[Any]) -> tuple[Any, list[int]]:
        if self.image_processor is None:
            folder = getattr(self.tokenizer, "name_or_path", None)
            if not folder or not Path(folder, "preprocessor_config.json").is_file():
                raise FtcoreError(f"template {self.name!r}: images need preprocessor_config.json in the model folder")
            from transformers import AutoImageProcessor

            self.image_processor = AutoImageProcessor.from_pretrained(folder)
        pixels = self.image_processor(images=[_image(i) for i in images], return_tensors="pt")
        merge = int(getattr(self.image_processor, "merge_size", 2))
        return pixels, [int(g.prod()) // (merge * merge) for g in pixels["image_grid_thw"]]

    def _expand(self, ids: list[int], labels: list[int], counts: list[int]) -> tuple[list[int], list[int]]:
        tok = self.tokenizer
        pad = tok.convert_tokens_to_ids(IMAGE_PAD)
        vision = {pad, tok.convert_tokens_to_ids(VISION_START), tok.convert_tokens_to_ids(VISION_END)}
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
        return {"input_ids": ids, "labels": labels, "pixel_values": pixels["pixel_values"].tolist(),
                "image_grid_thw": pixels["image_grid_thw"].tolist()}

    def encode_prompt_with_images(self, messages: Any, images: Any) -> dict[str, Any]:
        if not images:
            return {"input_ids": self.encode_prompt(messages)}
        pixels, counts = self._vision(list(images))
        ids = self.encode_prompt(_with_image_blocks(list(messages), len(counts)))
        ids, _ = self._expand(ids, [IGNORE_INDEX] * len(ids), counts)
        pad = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        return {"input_ids": ids, "pixel_values": pixels["pixel_values"], "image_grid_thw": pixels["image_grid_thw"],
                "mm_token_type_ids": [1 if i == pad else 0 for i in ids]}

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

from pathlib import Path
from typing import Any

from ftcore.templates.vision import ImageBlockTemplate, load_image

IMAGE_PLACEHOLDER = "<image>"
VISION_START, IMAGE_PAD, VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"

__all__ = ["IMAGE_PLACEHOLDER", "Qwen2VLTemplate", "image_processor_for", "load_image"]


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


class Qwen2VLTemplate(ImageBlockTemplate):
    """ChatML with Qwen2-VL image blocks (the core's :class:`ImageBlockTemplate`): Qwen-VL's ``<img>PATH</img>``
    tags count as placeholders, and the image processor is Qwen2-VL's PIL one."""

    vision_start, image_pad, vision_end = VISION_START, IMAGE_PAD, VISION_END

    def image_processor_of(self) -> Any:
        processor = image_processor_for(self.processor)
        return processor if processor is not None else super().image_processor_of()

    def mark_images(self, messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
        """Qwen-VL's form (ms-swift's coco-en): ``<img>PATH</img>`` marks where the image goes."""
        from ftcore_qwen.qwen_vl import IMG_TAG

        out = [dict(m) for m in messages]
        for m in out:
            if m.get("role") == "user" and isinstance(m.get("content"), str) and "<img>" in m["content"]:
                m["content"] = IMG_TAG.sub(IMAGE_PLACEHOLDER, m["content"])
        return super().mark_images(out, n_images)

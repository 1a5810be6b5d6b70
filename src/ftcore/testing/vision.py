"""A multimodal test template of the core's own, for the tiny Qwen2-VL-architecture model that
:func:`ftcore.testing.conformance.build_tiny_dir` builds (``arch="qwen2_vl"``).

The core's multimodal tests use it instead of a family plugin's template: ChatML, where each image becomes
``<|vision_start|>`` + one ``<|image_pad|>`` per merged vision patch + ``<|vision_end|>`` at an ``<image>``
placeholder of a user turn (without placeholders: at the start of the first user turn); ``encode`` adds
``pixel_values`` / ``image_grid_thw`` from the model folder's image processor. Image tokens carry no loss. A
sample with images is never truncated (one longer than ``max_length`` is skipped as ``too long``).
"""

from __future__ import annotations

from ftcore.specs import TemplateSpec
from ftcore.templates.vision import ImageBlockTemplate

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


class TinyVisionTemplate(ImageBlockTemplate):
    """ChatML with Qwen2-VL image blocks (:class:`ftcore.templates.vision.ImageBlockTemplate` as it is); implements
    :class:`ftcore.templates.MultimodalTemplate`."""

    vision_start, image_pad, vision_end = VISION_START, IMAGE_PAD, VISION_END

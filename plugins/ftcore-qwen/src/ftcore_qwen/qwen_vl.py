"""Qwen-VL (Qwen-1 generation, remote code): images travel in the text as ``Picture N: <img>PATH</img>\\n``.

Qwen-VL's own tokenizer recognises ``<img>…</img>`` and its model code opens the file itself, so the template
only has to write the tags (the form of Qwen-VL's ``tokenizer.from_list_format``). For each sample with images:

- text that already holds ``<img>…</img>`` tags (ms-swift's ``coco-en`` form) is used as it is;
- ``<image>`` placeholders in user turns become the tags, in order;
- otherwise the tags go at the start of the first user turn.

Images must be file paths or URLs (the model reads them by name; a PIL image cannot be referred to). A sample with
images is never truncated (cutting the image span would break it): one over ``max_length`` is skipped as
``too long``. Text-only samples encode exactly as the base template (``chatml`` for ``qwen-vl``, ``default`` for
``qwen-vl-generation``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from ftcore import FtcoreError
from ftcore.templates import SkipSample, Template

IMAGE_PLACEHOLDER = "<image>"
IMG_TAG = re.compile(r"<img>.*?</img>", re.S)


def image_reference(item: Any) -> str:
    """The name Qwen-VL opens: an absolute path of an existing file, or an http(s) URL."""
    from ftcore.templates import SkipSample

    if isinstance(item, Path):
        item = str(item)
    if not isinstance(item, str):
        raise FtcoreError(
            f"Qwen-VL reads images by file path or URL (its model code opens them), not a {type(item).__name__}: "
            "save the image to a file and give its path"
        )
    if item.startswith(("http://", "https://")):
        return item
    path = Path(item).expanduser()
    if not path.is_file():
        raise SkipSample("image not found", item)
    return str(path.resolve())


def picture(k: int, ref: str) -> str:
    return f"Picture {k}: <img>{ref}</img>\n"


def with_image_tags(messages: list[dict[str, Any]], images: list[Any]) -> list[dict[str, Any]]:
    """Messages with each image written as Qwen-VL's ``<img>`` tag (see the module docstring)."""
    from ftcore.templates import SkipSample

    out = [dict(m) for m in messages]
    users = [m for m in out if m.get("role") == "user" and isinstance(m.get("content"), str)]
    tagged = sum(len(IMG_TAG.findall(m["content"])) for m in users)
    if tagged:
        if tagged != len(images):
            raise SkipSample("image count mismatch", f"{tagged} <img> tags in the text for {len(images)} images")
        return out
    refs = [image_reference(i) for i in images]
    placeholders = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in users)
    if placeholders:
        if placeholders != len(refs):
            raise SkipSample("image count mismatch", f"{placeholders} <image> placeholders for {len(refs)} images")
        k = 0
        for m in users:
            parts = m["content"].split(IMAGE_PLACEHOLDER)
            text = parts[0]
            for rest in parts[1:]:
                text += picture(k + 1, refs[k]) + rest
                k += 1
            m["content"] = text
        return out
    if not users:
        raise SkipSample("image count mismatch", "images but no user turn")
    users[0]["content"] = "".join(picture(k + 1, r) for k, r in enumerate(refs)) + users[0]["content"]
    return out


class QwenVLTemplate(Template):
    """The base template's parts; ``encode(messages, images)`` writes the images as ``<img>`` tags."""

    #: the images are used (in the text), not ignored: the data pipeline does not warn about them
    takes_images = True

    def encode(self, messages: Any, images: Any = None) -> dict[str, Any]:
        if not images:
            return super().encode(messages)
        tagged = with_image_tags(list(messages), list(images))
        limit, self.max_length = self.max_length, None
        try:
            enc = super().encode(tagged)
        finally:
            self.max_length = limit
        if limit is not None and len(enc["input_ids"]) > limit:
            raise SkipSample("too long", f"{len(enc['input_ids'])} tokens with images > max_length {limit}")
        return enc

    def encode_prompt_with_images(self, messages: Any, images: Any = None) -> dict[str, Any]:
        """The generation prompt with the images as ``<img>`` tags (Qwen-VL's model opens them itself)."""
        if not images:
            return {"input_ids": self.encode_prompt(messages)}
        return {"input_ids": self.encode_prompt(with_image_tags(list(messages), list(images)))}

    @classmethod
    def build(cls, spec: Any, tokenizer: Any) -> Any:
        """The encoder for ``qwen-vl`` / ``qwen-vl-generation``."""
        return cls(dataclasses.replace(spec, kind="parts"), tokenizer)



"""Template encoders only Qwen needs: Qwen3's thinking / non-thinking chat format.

``qwen3`` and ``qwen3-nothink`` render with the model's own chat_template (like the core's ``jinja`` template)
passing ``enable_thinking``: in thinking mode the generation prompt is ``<|im_start|>assistant\\n`` and the
model learns to write its ``<think>…</think>`` block; in non-thinking mode the prompt already holds the empty
``<think>\\n\\n</think>\\n\\n`` block, so only the answer is learned. A tokenizer without Qwen3's chat_template
falls back to the spec's ChatML parts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ftcore import TemplateSpec
from ftcore.templates import JinjaTemplate, SkipSample, Template


class Qwen3Template(JinjaTemplate):
    """Qwen3's own chat_template in thinking mode (``qwen3``); a tokenizer without it gets the spec's ChatML
    parts (:meth:`build`)."""

    enable_thinking = True

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = False) -> str:
        try:
            return self.tokenizer.apply_chat_template(
                messages,
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
                enable_thinking=self.enable_thinking,
            )
        except Exception as exc:  # noqa: BLE001 - the chat_template rejects this conversation
            raise SkipSample("bad message", f"chat_template: {type(exc).__name__}: {exc}") from None

    @classmethod
    def build(cls, spec: TemplateSpec, tokenizer: Any) -> Template:
        """The encoder for ``spec`` bound to ``tokenizer``: this class when the tokenizer has Qwen3's
        chat_template, else a plain :class:`Template` on the spec's ChatML parts."""
        if has_qwen3_chat_template(tokenizer):
            return cls(spec, tokenizer)
        return Template(dataclasses.replace(spec, kind="parts"), tokenizer)


class Qwen3NoThinkTemplate(Qwen3Template):
    """Qwen3's own chat_template with ``enable_thinking=False`` (``qwen3-nothink``)."""

    enable_thinking = False


def has_qwen3_chat_template(tokenizer: Any) -> bool:
    tok = getattr(tokenizer, "tokenizer", tokenizer) if not hasattr(tokenizer, "chat_template") else tokenizer
    text = getattr(tok, "chat_template", None) or ""
    return isinstance(text, str) and "enable_thinking" in text and "<think>" in text

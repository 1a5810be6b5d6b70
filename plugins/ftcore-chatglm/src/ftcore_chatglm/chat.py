"""The encoder of ChatGLM3's and GLM-4's templates: the tokenizer's own chat_template, plus ``<|user|>`` after the
final answer as its turn end (these chat formats end an assistant turn with the next role token, which the
chat_template writes only when a next message follows)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ftcore import TemplateSpec
from ftcore.templates import JinjaTemplate, Template

#: the token that ends an assistant turn
TURN_END = "<|user|>"


class GLMTemplate(JinjaTemplate):
    """``chatglm3`` / ``glm4``: the model's chat_template; a conversation ending with an answer gets ``<|user|>``
    (labelled with the answer). A tokenizer without a chat_template gets the spec's parts (:meth:`build`)."""

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = False) -> str:
        text = super()._render(messages, add_generation_prompt)
        if not add_generation_prompt and messages and messages[-1].get("role") == "assistant":
            text += TURN_END
        return text

    @classmethod
    def build(cls, spec: TemplateSpec, tokenizer: Any) -> Template:
        tok = tokenizer if hasattr(tokenizer, "chat_template") else getattr(tokenizer, "tokenizer", tokenizer)
        if getattr(tok, "chat_template", None):
            return cls(spec, tokenizer)
        return Template(dataclasses.replace(spec, kind="parts"), tokenizer)

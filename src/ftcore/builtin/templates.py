"""Built-in templates: the generic ones every model can use (default, default-generation, chatml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftcore.hookspecs import hookimpl
from ftcore.specs import TemplateSpec

GENERIC_TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        name="default",
        prefix=["{{SYSTEM}}\n\n"],
        prompt=["### Human:\n", "{{QUERY}}\n\n", "### Assistant:\n"],
        chat_sep=["\n\n"],
        suffix=[["eos_token_id"]],
        description="the seed's generic '### Human: / ### Assistant:' format, for base models",
    ),
    TemplateSpec(
        name="default-generation",
        prefix=[],
        prompt=["{{QUERY}}"],
        chat_sep=None,
        suffix=[["eos_token_id"]],
        tags=["generation"],
        description="plain continuation (pre-training on raw text): query then response, single turn",
    ),
    TemplateSpec(
        name="chatml",
        prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
        prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
        chat_sep=["<|im_end|>\n"],
        suffix=["<|im_end|>"],
        stop_words=["<|im_end|>"],
        description="ChatML (Qwen and many others)",
    ),
)


@hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    for spec in GENERIC_TEMPLATES:
        register(spec)


@hookimpl(trylast=True)
def build_template(spec: TemplateSpec, tokenizer: Any) -> Any:
    from ftcore.templates import build_default_template

    return build_default_template(spec, tokenizer)

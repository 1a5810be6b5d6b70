"""ftcore-tigerbot: the TigerBot chat model and its template, as an ftcore plugin.

The whole plugin: two hook implementations that register specs. Loading, tuning and the template engine are
ftcore's built-ins, because TigerBot is a plain Llama-architecture model with a four-part template.
"""

from __future__ import annotations

from collections.abc import Callable

import ftcore

__version__ = "0.1.0"


@ftcore.hookimpl
def register_models(register: Callable[[ftcore.ModelSpec], None]) -> None:
    register(
        ftcore.ModelSpec(
            name="tigerbot-13b-chat",
            hub={"modelscope": "TigerResearch/tigerbot-13b-chat-v4"},
            template="tigerbot",
            lora_targets=["q_proj", "k_proj", "v_proj"],
            tags=["chat"],
            description="TigerBot 13B chat v4 (Llama architecture)",
        )
    )


@ftcore.hookimpl
def register_templates(register: Callable[[ftcore.TemplateSpec], None]) -> None:
    register(
        ftcore.TemplateSpec(
            name="tigerbot",
            prompt=["\n\n### Instruction:\n{{QUERY}}\n\n### Response:\n"],
            chat_sep=[],
            suffix=[["eos_token_id"]],
            description="TigerBot's '### Instruction: / ### Response:' format",
        )
    )

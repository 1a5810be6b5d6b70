"""ftcore-baichuan: Baichuan and Baichuan2 models and the baichuan template."""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import ModelSpec, TemplateSpec


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="baichuan2-7b-chat",
            hub={"modelscope": "baichuan-inc/Baichuan2-7B-Chat", "huggingface": "baichuan-inc/Baichuan2-7B-Chat"},
            template="baichuan",
            lora_targets=["W_pack"],
            trust_remote_code=True,
            tags=["chat", "remote-code"],
        )
    )


@ftcore.hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(TemplateSpec(name="baichuan", prompt=[[195], "{{QUERY}}", [196]], chat_sep=[], suffix=[["eos_token_id"]]))

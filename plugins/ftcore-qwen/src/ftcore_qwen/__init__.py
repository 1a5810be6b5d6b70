"""ftcore-qwen: the Qwen family (Qwen-1, Qwen-VL, Qwen1.5, Qwen2, Qwen2.5, Qwen3, Qwen2-VL, Qwen2.5-VL)."""

from __future__ import annotations

from collections.abc import Callable

import ftcore
from ftcore import ModelSpec


@ftcore.hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="qwen-7b-chat",
            hub={"modelscope": "qwen/Qwen-7B-Chat", "huggingface": "Qwen/Qwen-7B-Chat"},
            template="chatml",
            lora_targets=["c_attn"],
            trust_remote_code=True,
            tags=["chat", "remote-code"],
        )
    )

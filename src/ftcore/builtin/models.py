"""Built-in models: the generic :class:`~ftcore.models.loading.ModelLoader` (``load_model``, trylast) and the embedded
quick-start model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftcore.hookspecs import hookimpl
from ftcore.specs import ModelOptions, ModelSpec


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="ftcore-tiny-qwen2",
            path="builtin:tiny-qwen2",
            template="chatml",
            lora_targets=["q_proj", "k_proj", "v_proj", "o_proj"],
            tags=["chat", "tiny", "quickstart"],
            description="a tiny Qwen2-architecture model built on first use (random weights, a small BPE tokenizer "
            "trained on the spot, ChatML tokens)",
        )
    )


@hookimpl(trylast=True)
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    from ftcore.models.loading import ModelLoader

    return ModelLoader(spec, options).load()

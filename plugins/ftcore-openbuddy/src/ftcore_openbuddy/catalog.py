"""The OpenBuddy catalog: ms-swift's four OpenBuddy chat models (Llama / Llama-2 / Mistral bases), the core's
``openbuddy`` template ('User: …\\nAssistant: …'), q/k/v LoRA targets. Pure Python (no torch)."""

from __future__ import annotations

from ftcore import ModelSpec

QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]

#: name, hub repo (the same id on ModelScope and Hugging Face), base architecture, requires
_ROWS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("openbuddy-llama2-13b-chat", "OpenBuddy/openbuddy-llama2-13b-v8.1-fp16", "llama", ()),
    ("openbuddy-llama-65b-chat", "OpenBuddy/openbuddy-llama-65b-v8-bf16", "llama", ()),
    ("openbuddy-llama2-70b-chat", "OpenBuddy/openbuddy-llama2-70b-v10.1-bf16", "llama", ()),
    ("openbuddy-mistral-7b-chat", "OpenBuddy/openbuddy-mistral-7b-v13.1", "mistral", ("transformers>=4.34",)),
)

#: ms-swift's OpenBuddy model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _ROWS)


def openbuddy_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    return [
        ModelSpec(
            name=name,
            hub={"modelscope": repo, "huggingface": repo},
            template="openbuddy",
            lora_targets=list(QKV_TARGETS),
            requires=list(requires),
            max_length=4096,
            tags=["chat", arch],
            loader="ftcore_openbuddy.loading:OpenBuddyLoader",
            description=f"{repo.split('/')[-1]} ({arch} architecture; no chat_template of its own)",
        )
        for name, repo, arch, requires in _ROWS
    ]

"""The Ziya catalog: ms-swift's two Ziya2 models (Llama-2 architecture), the core's ``ziya`` template
('<human>:…\\n<bot>:…'), q/k/v LoRA targets. Pure Python (no torch)."""

from __future__ import annotations

from ftcore import ModelSpec

QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]

#: name, ModelScope id, Hugging Face id, template
_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("ziya2-13b", "Fengshenbang/Ziya2-13B-Base", "IDEA-CCNL/Ziya2-13B-Base", "default"),
    ("ziya2-13b-chat", "Fengshenbang/Ziya2-13B-Chat", "IDEA-CCNL/Ziya2-13B-Chat", "ziya"),
)

#: ms-swift's Ziya model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _ROWS)


def ziya_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    return [
        ModelSpec(
            name=name,
            hub={"modelscope": ms_id, "huggingface": hf_id},
            template=template,
            lora_targets=list(QKV_TARGETS),
            max_length=4096,
            tags=["chat" if template == "ziya" else "base", "llama"],
            loader="ftcore_ziya.loading:ZiyaLoader",
            description=f"{hf_id.split('/')[-1]} (Llama-2 architecture)",
        )
        for name, ms_id, hf_id, template in _ROWS
    ]

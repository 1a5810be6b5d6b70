"""The XVERSE catalog: ms-swift's four XVERSE models, one row each.

Pure Python (no torch). The checkpoints run the hub repo's own modeling code (``XverseForCausalLM``,
``trust_remote_code``) with separate q/k/v projections (ms-swift's "xverse" LoRA group). Hub ids are the same on
ModelScope and Hugging Face (org ``xverse``). The chat models use the core's ``xverse`` template
(``Human: …\\n\\nAssistant: …</s>``); the base models ``default``.
"""

from __future__ import annotations

from ftcore import ModelSpec

QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]
#: the :class:`ftcore.ModelLoader` subclass every XVERSE model loads with (a string: the catalog imports no torch)
LOADER = "ftcore_xverse.loading:XverseLoader"

#: rows: name, hub repo under xverse, template, tags
_ROWS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("xverse-7b", "XVERSE-7B", "default", ("base",)),
    ("xverse-7b-chat", "XVERSE-7B-Chat", "xverse", ("chat",)),
    ("xverse-13b", "XVERSE-13B", "default", ("base",)),
    ("xverse-13b-chat", "XVERSE-13B-Chat", "xverse", ("chat",)),
)

#: ms-swift's XVERSE model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _ROWS)


def xverse_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    out = []
    for name, repo, template, tags in _ROWS:
        hub_id = f"xverse/{repo}"
        out.append(
            ModelSpec(
                name=name,
                hub={"modelscope": hub_id, "huggingface": hub_id},
                template=template,
                lora_targets=list(QKV_TARGETS),
                max_length=8192,
                trust_remote_code=True,
                tags=[*tags, "remote-code"],
                loader=LOADER,
                description=f"{repo} (remote code)",
            )
        )
    return out

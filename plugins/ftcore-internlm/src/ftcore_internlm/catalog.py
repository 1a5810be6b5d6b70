"""The InternLM catalog: ms-swift's five InternLM-1 models, then the InternLM2 / 2.5 / 3 chat models.

Pure Python (no torch). Every model runs its hub repo's own code (``trust_remote_code``). InternLM-1 and InternLM3
have separate ``q_proj`` / ``k_proj`` / ``v_proj`` (ms-swift's "internlm" LoRA group); InternLM2 / 2.5 fuse them
into ``wqkv``. ModelScope ids are under ``Shanghai_AI_Laboratory``, Hugging Face ids under ``internlm``, with the
same repo names. :data:`ARCH` names each model's architecture (``internlm`` / ``internlm2`` / ``internlm3``) for
the tests' stand-ins and :data:`LOADERS` the :mod:`ftcore_internlm.loading` class of each.
"""

from __future__ import annotations

from ftcore import ModelSpec

QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]
WQKV_TARGETS = ["wqkv"]
#: what the remote tokenizer code imports (a dependency of ftcore-internlm)
INTERNLM_REQUIRES = ["sentencepiece>=0.1.99"]

#: architecture -> the :class:`ftcore.ModelLoader` subclass in :mod:`ftcore_internlm.loading`
LOADERS: dict[str, str] = {
    "internlm": "InternLMLoader",
    "internlm2": "InternLM2Loader",
    "internlm3": "InternLM3Loader",
}

#: rows: name, repo name (both hubs), architecture, template, tags, max_length
_ROWS: tuple[tuple[str, str, str, str, tuple[str, ...], int], ...] = (
    # ms-swift's models
    ("internlm-7b", "internlm-7b", "internlm", "default", ("base",), 2048),
    ("internlm-7b-chat", "internlm-chat-7b-v1_1", "internlm", "internlm", ("chat",), 2048),
    ("internlm-7b-chat-8k", "internlm-chat-7b-8k", "internlm", "internlm", ("chat",), 8192),
    ("internlm-20b", "internlm-20b", "internlm", "default", ("base",), 4096),
    ("internlm-20b-chat", "internlm-chat-20b", "internlm", "internlm", ("chat",), 4096),
    # successors
    ("internlm2-1.8b-chat", "internlm2-chat-1_8b", "internlm2", "internlm2", ("chat",), 32768),
    ("internlm2-7b-chat", "internlm2-chat-7b", "internlm2", "internlm2", ("chat",), 32768),
    ("internlm2-20b-chat", "internlm2-chat-20b", "internlm2", "internlm2", ("chat",), 32768),
    ("internlm2.5-1.8b-chat", "internlm2_5-1_8b-chat", "internlm2", "internlm2", ("chat",), 32768),
    ("internlm2.5-7b-chat", "internlm2_5-7b-chat", "internlm2", "internlm2", ("chat",), 32768),
    ("internlm2.5-7b-chat-1m", "internlm2_5-7b-chat-1m", "internlm2", "internlm2", ("chat", "long-context"), 1048576),
    ("internlm2.5-20b-chat", "internlm2_5-20b-chat", "internlm2", "internlm2", ("chat",), 32768),
    ("internlm3-8b-instruct", "internlm3-8b-instruct", "internlm3", "internlm2", ("chat",), 32768),
)

#: name -> architecture (``internlm`` / ``internlm2`` / ``internlm3``)
ARCH: dict[str, str] = {row[0]: row[2] for row in _ROWS}

#: ms-swift's InternLM model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _ROWS[:5])


def internlm_specs() -> list[ModelSpec]:
    """Every model of the plugin, ms-swift's first (fresh objects on each call)."""
    out = []
    for name, repo, arch, template, tags, max_length in _ROWS:
        out.append(
            ModelSpec(
                name=name,
                hub={"modelscope": f"Shanghai_AI_Laboratory/{repo}", "huggingface": f"internlm/{repo}"},
                template=template,
                lora_targets=list(WQKV_TARGETS if arch == "internlm2" else QKV_TARGETS),
                requires=list(INTERNLM_REQUIRES),
                max_length=max_length,
                trust_remote_code=True,
                tags=[*tags, "remote-code"],
                loader=f"ftcore_internlm.loading:{LOADERS[arch]}",
                description=f"{repo} (remote code)",
            )
        )
    return out

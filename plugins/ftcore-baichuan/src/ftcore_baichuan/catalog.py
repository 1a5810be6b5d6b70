"""The Baichuan catalog: ms-swift's nine Baichuan / Baichuan2 models, one row each (as ms-swift registers them).

Pure Python (no torch). All of them run the hub repo's own modeling code (``trust_remote_code``) and fuse
q/k/v into one ``W_pack`` projection (ms-swift's "baichuan" LoRA group). :data:`FAMILY` says which loading
steps each model needs; :data:`LOADERS` names the :mod:`ftcore_baichuan.loading` class that applies them
(``ModelSpec.loader``, a string: the catalog imports no torch).
"""

from __future__ import annotations

from ftcore import ModelSpec

W_PACK_TARGETS = ["W_pack"]
#: what the remote tokenizer / modeling code import (shipped as dependencies of ftcore-baichuan)
BAICHUAN_REQUIRES = ["sentencepiece>=0.1.99"]
#: the 4-bit checkpoints are bitsandbytes-quantized
INT4_REQUIRES = [*BAICHUAN_REQUIRES, "bitsandbytes>=0.41", "accelerate>=0.26"]

#: rows: name, hub repo under baichuan-inc, template, tags, loading steps, dtype
_ROWS: tuple[tuple[str, str, str, tuple[str, ...], str, str | None], ...] = (
    ("baichuan-7b", "baichuan-7B", "default", ("base",), "plain", None),
    ("baichuan-13b", "Baichuan-13B-Base", "default", ("base",), "baichuan-13b", None),
    ("baichuan-13b-chat", "Baichuan-13B-Chat", "baichuan", ("chat",), "plain", None),
    ("baichuan2-7b", "Baichuan2-7B-Base", "default", ("base",), "baichuan2", None),
    ("baichuan2-7b-chat", "Baichuan2-7B-Chat", "baichuan", ("chat",), "baichuan2", None),
    ("baichuan2-13b", "Baichuan2-13B-Base", "default", ("base",), "baichuan2-13b", None),
    ("baichuan2-13b-chat", "Baichuan2-13B-Chat", "baichuan", ("chat",), "baichuan2-13b", None),
    ("baichuan2-7b-chat-int4", "Baichuan2-7B-Chat-4bits", "baichuan", ("chat", "int4", "bnb"), "baichuan2-int4", "bf16"),
    ("baichuan2-13b-chat-int4", "Baichuan2-13B-Chat-4bits", "baichuan", ("chat", "int4", "bnb"), "baichuan2-int4", "bf16"),
)

#: name -> loading steps: plain | baichuan-13b | baichuan2 | baichuan2-13b | baichuan2-int4
FAMILY: dict[str, str] = {row[0]: row[4] for row in _ROWS}

#: loading steps -> the :class:`ftcore.ModelLoader` subclass in :mod:`ftcore_baichuan.loading` that applies them
LOADERS: dict[str, str] = {
    "plain": "BaichuanLoader",
    "baichuan-13b": "Baichuan13BLoader",
    "baichuan2": "Baichuan2Loader",
    "baichuan2-13b": "Baichuan2_13BLoader",
    "baichuan2-int4": "Baichuan2Int4Loader",
}

#: ms-swift's Baichuan model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _ROWS)


def baichuan_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    out = []
    for name, repo, template, tags, steps, dtype in _ROWS:
        hub_id = f"baichuan-inc/{repo}"
        out.append(
            ModelSpec(
                name=name,
                hub={"modelscope": hub_id, "huggingface": hub_id},
                template=template,
                lora_targets=list(W_PACK_TARGETS),
                requires=list(INT4_REQUIRES if steps == "baichuan2-int4" else BAICHUAN_REQUIRES),
                dtype=dtype,
                max_length=4096,
                trust_remote_code=True,
                tags=[*tags, "remote-code"],
                loader=f"ftcore_baichuan.loading:{LOADERS[steps]}",
                description=f"{repo} (remote code written for transformers 4.x)",
            )
        )
    return out

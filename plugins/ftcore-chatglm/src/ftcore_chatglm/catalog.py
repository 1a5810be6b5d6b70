"""The ChatGLM catalog: ms-swift's ChatGLM2 models, then ChatGLM3 and GLM-4.

Pure Python (no torch). ChatGLM2 / ChatGLM3 run the hub repo's own code (``ChatGLMForConditionalGeneration``,
``trust_remote_code``) with q/k/v fused into ``query_key_value`` (ms-swift's "chatglm2" LoRA group) and the head
named ``output_layer``. GLM-4-9B-Chat (its ``-hf`` repo) and the GLM-4-0414 models are transformers' own
``GlmForCausalLM`` / ``Glm4ForCausalLM`` with separate q/k/v projections. ModelScope ids are under ``ZhipuAI``,
Hugging Face ids under ``THUDM``. :data:`ARCH` names each model's architecture (``chatglm`` = remote code, or a
transformers model type) for the tests' stand-ins.
"""

from __future__ import annotations

from ftcore import ModelSpec

QKV_FUSED_TARGETS = ["query_key_value"]
QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]
#: what ChatGLM2 / ChatGLM3's remote tokenizer code imports (a dependency of ftcore-chatglm)
CHATGLM_REQUIRES = ["sentencepiece>=0.1.99"]
#: the transformers release that brought each native architecture
NATIVE_REQUIRES = {"glm": ["transformers>=4.46"], "glm4": ["transformers>=4.51"]}
#: the :class:`ftcore.ModelLoader` subclass of the remote-code models (a string: the catalog imports no torch)
LOADER = "ftcore_chatglm.loading:ChatGLMLoader"

#: rows: name, repo name (both hubs), architecture, template, tags, max_length
_ROWS: tuple[tuple[str, str, str, str, tuple[str, ...], int], ...] = (
    # ms-swift's models
    ("chatglm2-6b", "chatglm2-6b", "chatglm", "chatglm2", ("chat",), 8192),
    ("chatglm2-6b-32k", "chatglm2-6b-32k", "chatglm", "chatglm2", ("chat",), 32768),
    # successors
    ("chatglm3-6b", "chatglm3-6b", "chatglm", "chatglm3", ("chat",), 8192),
    ("chatglm3-6b-base", "chatglm3-6b-base", "chatglm", "chatglm2-generation", ("base",), 32768),
    ("chatglm3-6b-32k", "chatglm3-6b-32k", "chatglm", "chatglm3", ("chat",), 32768),
    ("glm-4-9b-chat", "glm-4-9b-chat-hf", "glm", "glm4", ("chat",), 131072),
    ("glm-4-9b-0414", "GLM-4-9B-0414", "glm4", "glm4", ("chat",), 32768),
    ("glm-4-32b-0414", "GLM-4-32B-0414", "glm4", "glm4", ("chat",), 32768),
    ("glm-4-32b-base-0414", "GLM-4-32B-Base-0414", "glm4", "default", ("base",), 32768),
)

#: name -> architecture (``chatglm`` = ChatGLM2 / ChatGLM3 remote code; ``glm`` / ``glm4`` = transformers')
ARCH: dict[str, str] = {row[0]: row[2] for row in _ROWS}

#: ms-swift's ChatGLM model names, for completeness tests
SEED_MODELS = ("chatglm2-6b", "chatglm2-6b-32k")


def chatglm_specs() -> list[ModelSpec]:
    """Every model of the plugin, ms-swift's first (fresh objects on each call)."""
    out = []
    for name, repo, arch, template, tags, max_length in _ROWS:
        remote = arch == "chatglm"
        out.append(
            ModelSpec(
                name=name,
                hub={"modelscope": f"ZhipuAI/{repo}", "huggingface": f"THUDM/{repo}"},
                template=template,
                lora_targets=list(QKV_FUSED_TARGETS if remote else QKV_TARGETS),
                requires=list(CHATGLM_REQUIRES if remote else NATIVE_REQUIRES[arch]),
                dtype=None if remote else "bf16",
                max_length=max_length,
                trust_remote_code=remote,
                tags=[*tags, "remote-code"] if remote else list(tags),
                loader=LOADER if remote else None,
                description=f"{repo} ({'remote code' if remote else f'transformers {arch}'})",
            )
        )
    return out

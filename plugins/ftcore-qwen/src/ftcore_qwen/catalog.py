"""The Qwen catalog: every model ftcore-qwen registers, generated from compact tables (sizes × variants).

Pure Python (no torch): ``ftcore models`` builds it at start-up. Each family is one row of settings plus the
sizes it was released in; :func:`qwen_specs` expands them into :class:`ftcore.ModelSpec` entries. Hub ids are the
same on ModelScope and Hugging Face except for ms-swift's Qwen-1 models (ModelScope org ``qwen``).

:data:`ARCH` maps every registered name to the transformers architecture (``model_type``) of its weights, or to
``qwen`` for the remote-code Qwen-1 / Qwen-VL models; the tests and the conformance check use it to build a tiny
stand-in of the right shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftcore import ModelSpec

#: LoRA targets: Qwen-1 fuses q/k/v into ``c_attn`` (ms-swift's "qwen" group); the native families use the
#: separate projections of the language model (the vision towers of Qwen2-VL / Qwen2.5-VL name theirs ``qkv``,
#: so these never reach the vision tower, which stays frozen).
QWEN1_TARGETS = ["c_attn"]
QKVO_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]

#: where the family's :class:`ftcore.ModelLoader` subclasses live (named as strings: the catalog imports no torch)
LOADING = "ftcore_qwen.loading"

#: What GPTQ checkpoints need (the core's ``gptq`` extra): ``pip install 'ftcore[gptq]'``.
GPTQ_REQUIRES = ["optimum>=1.24", "gptqmodel>=2.0"]
#: What Qwen-1's own tokenizer and modeling code import (shipped as dependencies of ftcore-qwen).
QWEN1_REQUIRES = ["tiktoken>=0.5", "einops>=0.7"]
#: Qwen-VL's visual tower code additionally needs pillow (and torchvision: ``pip install 'ftcore-qwen[vision]'``).
QWEN_VL_REQUIRES = [*QWEN1_REQUIRES, "pillow>=10"]

#: name -> architecture of the weights (``qwen`` = Qwen-1 remote code; others are transformers model types)
ARCH: dict[str, str] = {}


@dataclass(frozen=True)
class Family:
    """One family row: how its names and hub ids are spelled, and the settings every member shares."""

    #: catalog name stem, e.g. ``qwen2.5-coder``
    stem: str
    #: hub id stem, e.g. ``Qwen/Qwen2.5-Coder``
    repo: str
    #: transformers architecture (``model_type``) of the weights
    arch: str
    sizes: tuple[str, ...]
    #: template of the chat / instruct models, and of the base models
    chat_template: str
    base_template: str
    #: hub suffix of the chat variant (``-Chat`` / ``-Instruct`` / ``""`` for Qwen3's hybrid chat models)
    chat_suffix: str = "-Instruct"
    #: catalog suffix of the chat variant
    chat_name: str = "-instruct"
    #: hub suffix of the base variant, and which sizes have one (None = all)
    base_suffix: str = ""
    base_name: str = ""
    base_sizes: tuple[str, ...] | None = None
    #: sizes with GPTQ Int4 / Int8 chat checkpoints, and how their hub suffix reads
    int4_sizes: tuple[str, ...] = ()
    int8_sizes: tuple[str, ...] = ()
    gptq_suffix: str = "-GPTQ-Int{bits}"
    max_length: int = 32768
    requires: tuple[str, ...] = ("transformers>=4.37",)
    tags: tuple[str, ...] = ()
    auto_class: str = "AutoModelForCausalLM"
    lora_targets: tuple[str, ...] = tuple(QKVO_TARGETS)
    extra_chat_tags: tuple[str, ...] = ()
    description: str = ""


_Q15 = ("0.5B", "1.8B", "4B", "7B", "14B", "32B", "72B", "110B")
_Q2 = ("0.5B", "1.5B", "7B", "72B")
_Q25 = ("0.5B", "1.5B", "3B", "7B", "14B", "32B", "72B")

FAMILIES: tuple[Family, ...] = (
    Family(
        "qwen1.5", "Qwen/Qwen1.5", "qwen2", _Q15, "qwen", "qwen", chat_suffix="-Chat", chat_name="-chat",
        int4_sizes=_Q15, int8_sizes=("0.5B", "1.8B", "4B", "7B", "14B", "72B"),
        description="Qwen1.5",
    ),
    Family(
        "qwen1.5-moe", "Qwen/Qwen1.5-MoE", "qwen2_moe", ("A2.7B",), "qwen", "qwen", chat_suffix="-Chat",
        chat_name="-chat", int4_sizes=("A2.7B",), requires=("transformers>=4.40",), tags=("moe",),
        description="Qwen1.5 mixture of experts",
    ),
    Family(
        "qwen2", "Qwen/Qwen2", "qwen2", _Q2, "qwen", "qwen", int4_sizes=_Q2, int8_sizes=_Q2,
        description="Qwen2",
    ),
    Family(
        "qwen2-moe", "Qwen/Qwen2", "qwen2_moe", ("57B-A14B",), "qwen", "qwen", int4_sizes=("57B-A14B",),
        requires=("transformers>=4.40",), tags=("moe",), description="Qwen2 mixture of experts",
    ),
    Family(
        "qwen2-math", "Qwen/Qwen2-Math", "qwen2", ("1.5B", "7B", "72B"), "qwen", "qwen", max_length=4096,
        tags=("math",), description="Qwen2-Math",
    ),
    Family(
        "qwen2.5", "Qwen/Qwen2.5", "qwen2", _Q25, "qwen2.5", "qwen2.5", int4_sizes=_Q25, int8_sizes=_Q25,
        description="Qwen2.5",
    ),
    Family(
        "qwen2.5-coder", "Qwen/Qwen2.5-Coder", "qwen2", ("0.5B", "1.5B", "3B", "7B", "14B", "32B"),
        "qwen2.5", "qwen2.5", int4_sizes=("0.5B", "1.5B", "3B", "7B", "14B", "32B"),
        int8_sizes=("0.5B", "1.5B", "3B", "7B", "14B", "32B"), tags=("coding",), description="Qwen2.5-Coder",
    ),
    Family(
        "qwen2.5-math", "Qwen/Qwen2.5-Math", "qwen2", ("1.5B", "7B", "72B"), "qwen2.5-math", "qwen2.5-math",
        max_length=4096, tags=("math",), description="Qwen2.5-Math",
    ),
    # Qwen3's chat models carry no suffix and think by default (template qwen3; qwen3-nothink for the
    # non-thinking format); the base models are "-Base" and exist up to 14B.
    Family(
        "qwen3", "Qwen/Qwen3", "qwen3", ("0.6B", "1.7B", "4B", "8B", "14B", "32B"), "qwen3", "qwen3",
        chat_suffix="", chat_name="", base_suffix="-Base", base_name="-base",
        base_sizes=("0.6B", "1.7B", "4B", "8B", "14B"), requires=("transformers>=4.51",),
        extra_chat_tags=("thinking",), description="Qwen3 (hybrid thinking / non-thinking chat)",
    ),
    Family(
        "qwen3-moe", "Qwen/Qwen3", "qwen3_moe", ("30B-A3B", "235B-A22B"), "qwen3", "qwen3", chat_suffix="",
        chat_name="", base_suffix="-Base", base_name="-base", base_sizes=("30B-A3B",),
        requires=("transformers>=4.51",), tags=("moe",), extra_chat_tags=("thinking",),
        description="Qwen3 mixture of experts (hybrid thinking / non-thinking chat)",
    ),
    Family(
        "qwen2-vl", "Qwen/Qwen2-VL", "qwen2_vl", ("2B", "7B", "72B"), "qwen2-vl", "qwen2-vl",
        int4_sizes=("2B", "7B", "72B"), int8_sizes=("2B", "7B", "72B"), requires=("transformers>=4.45",),
        tags=("multimodal", "vision"), auto_class="AutoModelForImageTextToText", description="Qwen2-VL",
    ),
    Family(
        "qwen2.5-vl", "Qwen/Qwen2.5-VL", "qwen2_5_vl", ("3B", "7B", "32B", "72B"), "qwen2-vl", "qwen2-vl",
        base_sizes=(), requires=("transformers>=4.49",), tags=("multimodal", "vision"),
        auto_class="AutoModelForImageTextToText", description="Qwen2.5-VL (instruct models only)",
    ),
)


def _family_specs(f: Family) -> list[ModelSpec]:
    out = []
    # MoE families spell the size into the stem: "qwen1.5-moe-a2.7b" / hub "Qwen/Qwen1.5-MoE-A2.7B"
    stem = f.stem.removesuffix("-moe")

    def name_of(size: str, suffix: str) -> str:
        middle = f"-moe-{size.lower()}" if f.stem.endswith("-moe") and "-MoE" in f.repo else f"-{size.lower()}"
        return f"{stem}{middle}{suffix}"

    def repo_of(size: str, suffix: str) -> str:
        return f"{f.repo}-{size}{suffix}"

    def spec(size: str, name_suffix: str, hub_suffix: str, *, chat: bool, bits: int = 0) -> ModelSpec:
        repo = repo_of(size, hub_suffix)
        tags = ["chat" if chat else "base", *f.tags, *(f.extra_chat_tags if chat else ())]
        requires = list(f.requires)
        if bits:
            tags += [f"int{bits}", "gptq"]
            requires += GPTQ_REQUIRES
        s = ModelSpec(
            name=name_of(size, name_suffix),
            hub={"modelscope": repo, "huggingface": repo},
            template=f.chat_template if chat else f.base_template,
            lora_targets=list(f.lora_targets),
            requires=requires,
            dtype="fp16" if bits else "bf16",
            auto_class=f.auto_class,
            max_length=f.max_length,
            tags=tags,
            loader=f"{LOADING}:QwenGPTQLoader" if bits else None,
            description=f"{f.description} {size}{' chat' if chat else ' base'}{f' GPTQ int{bits}' if bits else ''}",
        )
        ARCH[s.name] = f.arch
        return s

    for size in f.sizes:
        out.append(spec(size, f.chat_name, f.chat_suffix, chat=True))
        if f.base_sizes is None or size in f.base_sizes:
            out.append(spec(size, f.base_name, f.base_suffix, chat=False))
        for bits, sizes in ((4, f.int4_sizes), (8, f.int8_sizes)):
            if size in sizes:
                out.append(
                    spec(size, f"{f.chat_name}-int{bits}", f"{f.chat_suffix}{f.gptq_suffix.format(bits=bits)}",
                         chat=True, bits=bits)
                )
    return out


# --------------------------------------------------------------------------------------------------
# ms-swift's Qwen-1 and Qwen-VL models (remote code). Rows: name, hub id stem, template, tags, max length.
# ModelScope ids are ms-swift's (org "qwen"); Hugging Face ids are the same repos under "Qwen".

_QWEN1_ROWS: tuple[tuple[str, str, str, tuple[str, ...], int], ...] = (
    ("qwen-7b", "Qwen-7B", "default", ("base",), 8192),
    ("qwen-7b-chat", "Qwen-7B-Chat", "chatml", ("chat",), 8192),
    ("qwen-14b", "Qwen-14B", "default", ("base",), 8192),
    ("qwen-14b-chat", "Qwen-14B-Chat", "chatml", ("chat",), 8192),
    ("qwen-7b-chat-int4", "Qwen-7B-Chat-Int4", "chatml", ("chat", "int4", "gptq"), 8192),
    ("qwen-14b-chat-int4", "Qwen-14B-Chat-Int4", "chatml", ("chat", "int4", "gptq"), 8192),
    ("qwen-7b-chat-int8", "Qwen-7B-Chat-Int8", "chatml", ("chat", "int8", "gptq"), 8192),
    ("qwen-14b-chat-int8", "Qwen-14B-Chat-Int8", "chatml", ("chat", "int8", "gptq"), 8192),
    # ms-swift's default / chatml, plus the `images` field written as <img> tags (text-only encodes the same)
    ("qwen-vl", "Qwen-VL", "qwen-vl-generation", ("base", "multimodal", "vision"), 2048),
    ("qwen-vl-chat", "Qwen-VL-Chat", "qwen-vl", ("chat", "multimodal", "vision"), 2048),
    ("qwen-vl-chat-int4", "Qwen-VL-Chat-Int4", "qwen-vl", ("chat", "multimodal", "vision", "int4", "gptq"), 2048),
)


def _qwen1_specs() -> list[ModelSpec]:
    out = []
    for name, repo, template, tags, max_length in _QWEN1_ROWS:
        quantized = "gptq" in tags
        requires = list(QWEN_VL_REQUIRES if "vision" in tags else QWEN1_REQUIRES)
        if quantized:
            requires += GPTQ_REQUIRES
        out.append(
            ModelSpec(
                name=name,
                hub={"modelscope": f"qwen/{repo}", "huggingface": f"Qwen/{repo}"},
                template=template,
                lora_targets=list(QWEN1_TARGETS),
                requires=requires,
                # ms-swift: fp16 for the GPTQ checkpoints, else decided by model.dtype = "auto"
                dtype="fp16" if quantized else None,
                max_length=max_length,
                trust_remote_code=True,
                tags=[*tags, "remote-code"],
                loader=f"{LOADING}:{'QwenVL' if 'vision' in tags else 'Qwen1'}{'GPTQ' if quantized else ''}Loader",
                description=f"{repo} (Qwen-1 remote code{', images as <img>path</img> in text' if 'vision' in tags else ''})",
            )
        )
        ARCH[name] = "qwen-vl" if "vision" in tags else "qwen"
    return out


def qwen_specs() -> list[ModelSpec]:
    """Every model of the plugin, ms-swift models first (fresh objects on each call)."""
    specs = _qwen1_specs()
    for family in FAMILIES:
        specs.extend(_family_specs(family))
    return specs


#: ms-swift's Qwen model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _QWEN1_ROWS)

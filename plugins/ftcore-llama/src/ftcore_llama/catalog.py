"""The Llama catalog: ms-swift's six Llama-2 models (as it registers them) and the Llama 3.x successors.

Pure Python (no torch). :data:`FAMILY` says which loading steps each model needs (``llama2``: the config's
``pretraining_tp`` set to 1 before loading, for llama2-13b, llama2-13b-chat and llama2-70b-chat only, as in
ms-swift); :data:`LOADERS` names the :mod:`ftcore_llama.loading` class that applies them.
"""

from __future__ import annotations

from ftcore import ModelSpec, TemplateSpec

QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]

#: ms-swift's Llama-2 rows: name, ModelScope id, Hugging Face id, template, loading steps
_LLAMA2: tuple[tuple[str, str, str, str, str], ...] = (
    ("llama2-7b", "modelscope/Llama-2-7b-ms", "meta-llama/Llama-2-7b-hf", "default", "plain"),
    ("llama2-13b", "modelscope/Llama-2-13b-ms", "meta-llama/Llama-2-13b-hf", "default", "llama2"),
    ("llama2-70b", "modelscope/Llama-2-70b-ms", "meta-llama/Llama-2-70b-hf", "default", "plain"),
    ("llama2-7b-chat", "modelscope/Llama-2-7b-chat-ms", "meta-llama/Llama-2-7b-chat-hf", "llama", "plain"),
    ("llama2-13b-chat", "modelscope/Llama-2-13b-chat-ms", "meta-llama/Llama-2-13b-chat-hf", "llama", "llama2"),
    ("llama2-70b-chat", "modelscope/Llama-2-70b-chat-ms", "meta-llama/Llama-2-70b-chat-hf", "llama", "llama2"),
)

#: the successors: name, ModelScope id, Hugging Face id, max_length (base + instruct each)
_LLAMA3: tuple[tuple[str, str, str, int], ...] = (
    ("llama3-8b", "LLM-Research/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B", 8192),
    ("llama3-70b", "LLM-Research/Meta-Llama-3-70B", "meta-llama/Meta-Llama-3-70B", 8192),
    ("llama3.1-8b", "LLM-Research/Meta-Llama-3.1-8B", "meta-llama/Llama-3.1-8B", 131072),
    ("llama3.1-70b", "LLM-Research/Meta-Llama-3.1-70B", "meta-llama/Llama-3.1-70B", 131072),
    ("llama3.2-1b", "LLM-Research/Llama-3.2-1B", "meta-llama/Llama-3.2-1B", 131072),
    ("llama3.2-3b", "LLM-Research/Llama-3.2-3B", "meta-llama/Llama-3.2-3B", 131072),
)
#: Llama 3.3 ships an instruct model only
_LLAMA33 = ("llama3.3-70b-instruct", "LLM-Research/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct")

#: name -> loading steps: plain | llama2
FAMILY: dict[str, str] = {row[0]: row[4] for row in _LLAMA2}
#: loading steps -> the :class:`ftcore.ModelLoader` subclass in :mod:`ftcore_llama.loading`
LOADERS: dict[str, str] = {"plain": "LlamaLoader", "llama2": "Llama2Loader"}

#: ms-swift's Llama model names, for completeness tests
SEED_MODELS = tuple(row[0] for row in _LLAMA2)

#: Llama 3's chat format: header-wrapped roles, every turn ends with ``<|eot_id|>`` (labelled on answers)
LLAMA3_TEMPLATE = TemplateSpec(
    name="llama3",
    prefix=[["bos_token_id"], "<|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>"],
    prompt=["<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"],
    chat_sep=["<|eot_id|>"],
    suffix=["<|eot_id|>"],
    stop_words=["<|eot_id|>"],
    tags=["llama"],
    description="Llama 3 / 3.1 / 3.2 / 3.3 Instruct: <|start_header_id|>role<|end_header_id|>\\n\\n…<|eot_id|>",
    known_differences=[
        "default-system: a conversation without a system message gets the run's system prompt as a system "
        "turn; Llama 3.0's chat_template writes none",
        "Llama 3.1+ chat_templates add 'Cutting Knowledge Date' / 'Today Date' lines to the system turn; "
        "ftcore does not (use template.name = 'jinja' for the model's own text)",
    ],
)


def llama_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    out = []
    for name, ms_id, hf_id, template, steps in _LLAMA2:
        out.append(ModelSpec(
            name=name,
            hub={"modelscope": ms_id, "huggingface": hf_id},
            template=template,
            lora_targets=list(QKV_TARGETS),
            ignore_patterns=["*.bin"],  # ms-swift: the repos hold safetensors and .bin copies
            max_length=4096,
            tags=["chat" if template == "llama" else "base", "llama2"],
            loader=f"ftcore_llama.loading:{LOADERS[steps]}",
            description="Llama 2" + (" chat" if template == "llama" else "")
            + (" (pretraining_tp = 1 before loading)" if steps == "llama2" else ""),
        ))
    rows = [(n, ms, hf, m, "base") for n, ms, hf, m in _LLAMA3]
    rows += [(f"{n}-instruct", f"{ms}-Instruct", f"{hf}-Instruct", m, "chat") for n, ms, hf, m in _LLAMA3]
    rows.append((*_LLAMA33, 131072, "chat"))
    for name, ms_id, hf_id, max_length, kind in rows:
        out.append(ModelSpec(
            name=name,
            hub={"modelscope": ms_id, "huggingface": hf_id},
            template="llama3" if kind == "chat" else "default",
            lora_targets=list(QKV_TARGETS),
            requires=["transformers>=4.43"] if not name.startswith("llama3-") else ["transformers>=4.40"],
            dtype="bf16",
            max_length=max_length,
            tags=[kind, "llama3"],
            loader="ftcore_llama.loading:LlamaLoader",
            description=hf_id.split("/")[-1] + ("; also: template.name = 'jinja' for its own chat_template"
                                                 if kind == "chat" else ""),
        ))
    return out

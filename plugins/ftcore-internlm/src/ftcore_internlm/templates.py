"""InternLM2's chat template (InternLM2, InternLM2.5 and InternLM3 chat): ChatML after a bos token.

``<s><|im_start|>system\\nSYSTEM<|im_end|>\\n<|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\nA<|im_end|>\\n``.
The answer and its ``<|im_end|>`` carry the loss; the ``"\\n"`` after it is context. InternLM-1's ``internlm``
template ships with the core. Pure Python.
"""

from __future__ import annotations

from ftcore import TemplateSpec

#: InternLM2's default system prompt (the ``meta_instruction`` of its ``chat()``; ms-swift's default for the family)
INTERNLM2_SYSTEM = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
    "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the user such as "
    "English and 中文."
)

INTERNLM_TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        name="internlm2",
        prefix=[["bos_token_id"], "<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
        prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
        chat_sep=["<|im_end|>\n"],
        suffix=["<|im_end|>\n"],
        system=INTERNLM2_SYSTEM,
        stop_words=["<|im_end|>"],
        tags=["internlm", "chatml"],
        description="InternLM2 / 2.5 / 3 chat: <s> then ChatML; InternLM's default system prompt",
        known_differences=[
            "a conversation without a system message gets InternLM's default system block (ms-swift, and the "
            "model's own chat()); the tokenizer's chat_template writes none",
        ],
    ),
)

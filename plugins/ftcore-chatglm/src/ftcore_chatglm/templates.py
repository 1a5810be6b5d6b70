"""ChatGLM3's and GLM-4's chat templates (``chatglm3``, ``glm4``); ChatGLM2's ``chatglm2`` /
``chatglm2-generation`` ship with the core.

Both render with the tokenizer's own chat_template (:class:`ftcore_chatglm.chat.GLMTemplate`) and end the final
answer with ``<|user|>``: these models close a turn by generating the next role token (their generation configs
list ``<|user|>`` / ``<|observation|>`` as eos), so that token is the turn end the answer learns (ms-swift's GLM
templates put it in the suffix). The four parts below are the fallback for a tokenizer without a chat_template.
Pure Python.
"""

from __future__ import annotations

from ftcore import TemplateSpec

_GLM_STOP = ["<|user|>", "<|observation|>"]

CHATGLM_TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        name="chatglm3",
        # fallback: ms-swift's chatglm3 parts ([gMASK] sop, <|user|> 64795, <|assistant|> 64796)
        prefix=[[64790, 64792]],
        prompt=[[64795], "\n {{QUERY}}", [64796], "\n"],
        chat_sep=[],
        suffix=[[64795]],
        stop_words=list(_GLM_STOP),
        kind="custom",
        template_class="ftcore_chatglm.chat:GLMTemplate",
        tags=["chatglm"],
        description="ChatGLM3: the tokenizer's chat_template ('[gMASK]sop<|user|>\\n Q<|assistant|>\\n A'), "
        "answers end with <|user|>",
        known_differences=[
            "the chat_template writes nothing after the last answer; ftcore appends <|user|>, the token that ends "
            "an assistant turn, and labels it",
        ],
    ),
    TemplateSpec(
        name="glm4",
        prefix=["[gMASK]<sop>"],
        prompt=["<|user|>\n{{QUERY}}<|assistant|>\n"],
        chat_sep=[],
        suffix=["<|user|>"],
        stop_words=list(_GLM_STOP),
        kind="custom",
        template_class="ftcore_chatglm.chat:GLMTemplate",
        tags=["glm"],
        description="GLM-4: the tokenizer's chat_template ('[gMASK]<sop><|user|>\\nQ<|assistant|>\\nA'), "
        "answers end with <|user|>",
        known_differences=[
            "the chat_template writes nothing after the last answer; ftcore appends <|user|>, the token that ends "
            "an assistant turn, and labels it",
            "only without a chat_template (four-part fallback): the system prompt is not written",
        ],
    ),
)

"""Built-in templates: every template of ms-swift (exact pieces) and ``jinja``.

Registration order is ms-swift's: default, default-generation, chatml, baichuan, chatglm2, chatglm2-generation,
llama, openbuddy, internlm, xverse, ziya; then ``jinja`` (the tokenizer's own chat_template). Family plugins do
not re-register these names. Where ftcore departs from ms-swift on purpose, the spec says so in
``known_differences`` (see docs/templates.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftcore.hookspecs import hookimpl
from ftcore.specs import TemplateSpec

EOS = ["eos_token_id"]
BOS = ["bos_token_id"]

SEED_TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        name="default",
        prefix=["{{SYSTEM}}\n\n"],
        prompt=["### Human:\n", "{{QUERY}}\n\n", "### Assistant:\n"],
        chat_sep=["\n\n"],
        suffix=[EOS],
        description="ms-swift's generic '### Human: / ### Assistant:' format, for base models",
    ),
    TemplateSpec(
        name="default-generation",
        prefix=[],
        prompt=["{{QUERY}}"],
        chat_sep=None,
        suffix=[EOS],
        tags=["generation"],
        description="plain continuation (pre-training on raw text): query then response + eos, single turn",
    ),
    TemplateSpec(
        name="chatml",
        prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
        prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
        chat_sep=["<|im_end|>\n"],
        suffix=["<|im_end|>\n"],
        stop_words=["<|im_end|>"],
        tags=["qwen"],
        description="ChatML (Qwen and many others); equals Qwen2.5's official chat_template token for token",
        known_differences=[
            "default-system: without a system message ftcore uses the run's system prompt "
            "('you are a helpful assistant!' unless template.system is set); Qwen2.5's chat_template inserts "
            "'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.', Qwen3's none",
            "ms-swift: ms-swift's suffix was '<|im_end|>\\n<|endoftext|>' (all labelled); ftcore ends a turn with "
            "'<|im_end|>\\n' as the official template does and labels '<|im_end|>' only",
        ],
    ),
    TemplateSpec(
        name="baichuan",
        prefix=[],
        prompt=[[195], "{{QUERY}}", [196]],
        chat_sep=[],
        suffix=[EOS],
        tags=["baichuan"],
        description="Baichuan chat: 195 <user> / 196 <assistant> token ids",
    ),
    TemplateSpec(
        name="chatglm2",
        prefix=[[64790, 64792]],
        prompt=["[Round {{ROUND1}}]\n\n问：{{QUERY}}\n\n答："],
        chat_sep=["\n\n"],
        suffix=[EOS],
        tags=["chatglm"],
        description="ChatGLM2: [gMASK] sop, then '[Round N]\\n\\n问：…\\n\\n答：'",
    ),
    TemplateSpec(
        name="chatglm2-generation",
        prefix=[[64790, 64792]],
        prompt=["{{QUERY}}"],
        chat_sep=None,
        suffix=[EOS],
        tags=["chatglm", "generation"],
        description="ChatGLM2 plain continuation, single turn",
    ),
    TemplateSpec(
        name="llama",
        prefix=[BOS, "[INST] <<SYS>>\n{{SYSTEM}}\n<</SYS>>\n\n"],
        prompt=["{{QUERY}} [/INST] "],
        chat_sep=[" ", ["eos_token_id", "bos_token_id"], "[INST] "],
        suffix=[EOS],
        tags=["llama"],
        description="Llama-2 chat: <s>[INST] <<SYS>>…<</SYS>> … [/INST] … </s>",
    ),
    TemplateSpec(
        name="openbuddy",
        prefix=["{{SYSTEM}}\n\n"],
        prompt=["User: {{QUERY}}\nAssistant: "],
        chat_sep=["\n"],
        suffix=[EOS],
        tags=["llama"],
        description="OpenBuddy (llama): 'User: …\\nAssistant: …'",
    ),
    TemplateSpec(
        name="internlm",
        prefix=["<s>"],
        prompt=["<|User|>:{{QUERY}}<eoh>\n<|Bot|>:"],
        chat_sep=["<eoa>\n"],
        suffix=["<eoa>\n</s>"],
        stop_words=["<eoa>"],
        tags=["internlm"],
        description="InternLM chat: '<|User|>:…<eoh>\\n<|Bot|>:…<eoa>\\n'",
        known_differences=[
            "ms-swift: the whole suffix '<eoa>\\n</s>' was labelled; ftcore labels up to the turn end '<eoa>'",
        ],
    ),
    TemplateSpec(
        name="xverse",
        prefix=[],
        prompt=["Human: {{QUERY}}\n\nAssistant: "],
        chat_sep=[EOS],
        suffix=[EOS],
        tags=["xverse"],
        description="XVERSE chat: 'Human: …\\n\\nAssistant: …</s>'",
    ),
    TemplateSpec(
        name="ziya",
        prefix=[BOS],
        prompt=["<human>:{{QUERY}}\n<bot>:"],
        chat_sep=["\n"],
        suffix=[EOS],
        tags=["llama"],
        description="Ziya-LLaMA: '<human>:…\\n<bot>:…'",
    ),
)

JINJA_TEMPLATE = TemplateSpec(
    name="jinja",
    kind="jinja",
    description="the tokenizer's own chat_template (labels derived: assistant content + turn end)",
)


@hookimpl
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    for spec in SEED_TEMPLATES:
        register(spec)
    register(JINJA_TEMPLATE)


@hookimpl(trylast=True)
def build_template(spec: TemplateSpec, tokenizer: Any) -> Any:
    from ftcore.templates import build_default_template

    return build_default_template(spec, tokenizer)

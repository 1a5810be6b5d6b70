"""The Qwen family's chat templates (ChatML with each generation's default system prompt, Qwen3's thinking modes).

The generic ``chatml`` and ``default`` templates (used by ms-swift's Qwen-1 models) ship with the core; these
are the ones only Qwen models use. Pure Python: no tokenizer is needed to declare them.
"""

from __future__ import annotations

from ftcore import TemplateSpec

_IM_PREFIX = ["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"]
_IM_PROMPT = ["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"]
_IM_SEP = ["<|im_end|>\n"]
# like the core chatml: the official templates end every turn with "<|im_end|>\n"; the engine labels the turn up to
# and including its first stop token (<|im_end|>) and leaves the "\n" after it unlabelled
_IM_SUFFIX = ["<|im_end|>\n"]
_IM_STOP = ["<|im_end|>", "<|endoftext|>"]


def _chatml(name: str, system: str | None, description: str, **kw: object) -> TemplateSpec:
    return TemplateSpec(
        name=name,
        prefix=list(_IM_PREFIX),
        prompt=list(kw.pop("prompt", _IM_PROMPT)),  # type: ignore[arg-type]
        chat_sep=list(_IM_SEP),
        suffix=list(_IM_SUFFIX),
        system=system,
        stop_words=list(_IM_STOP),
        description=description,
        **kw,  # type: ignore[arg-type]
    )


QWEN_TEMPLATES: tuple[TemplateSpec, ...] = (
    _chatml(
        "qwen",
        "You are a helpful assistant.",
        "ChatML with Qwen1.5 / Qwen2's default system prompt",
    ),
    _chatml(
        "qwen2.5",
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        "ChatML with Qwen2.5's default system prompt",
    ),
    _chatml(
        "qwen2.5-math",
        "Please reason step by step, and put your final answer within \\boxed{}.",
        "ChatML with Qwen2.5-Math's chain-of-thought system prompt",
    ),
    # Qwen3 (kind "custom", class in ftcore_qwen.chat): the model's own chat_template with enable_thinking on /
    # off; the ChatML parts below are the fallback for a tokenizer without it.
    _chatml(
        "qwen3",
        None,
        "Qwen3 thinking mode: the model's chat_template; replies carry their own <think>...</think> block",
        kind="custom",
        template_class="ftcore_qwen.chat:Qwen3Template",
        tags=["thinking"],
        known_differences=[
            "only without Qwen3's chat_template (ChatML fallback): earlier turns keep their <think> blocks and "
            "a system block is always written",
        ],
    ),
    _chatml(
        "qwen3-nothink",
        None,
        "Qwen3 non-thinking mode (enable_thinking=False): the prompt ends with an empty <think></think> block",
        prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"],
        kind="custom",
        template_class="ftcore_qwen.chat:Qwen3NoThinkTemplate",
        tags=["non-thinking"],
        known_differences=[
            "only without Qwen3's chat_template (ChatML fallback): every turn gets the empty <think> block and "
            "a system block is always written",
        ],
    ),
    # kind "custom", class in ftcore_qwen.multimodal: ChatML plus image blocks and pixel inputs
    _chatml(
        "qwen2-vl",
        "You are a helpful assistant.",
        "Qwen2-VL / Qwen2.5-VL: ChatML; images become <|vision_start|><|image_pad|>...<|vision_end|>",
        kind="custom",
        template_class="ftcore_qwen.multimodal:Qwen2VLTemplate",
        tags=["multimodal"],
    ),
    # kind "custom", class in ftcore_qwen.qwen_vl: Qwen-1 VL, images as <img>PATH</img> in the text
    TemplateSpec(
        name="qwen-vl",
        extends="chatml",
        kind="custom",
        template_class="ftcore_qwen.qwen_vl:QwenVLTemplate",
        tags=["multimodal"],
        description="Qwen-VL-Chat: ChatML; images become 'Picture N: <img>PATH</img>' in the user turn",
    ),
    TemplateSpec(
        name="qwen-vl-generation",
        extends="default",
        kind="custom",
        template_class="ftcore_qwen.qwen_vl:QwenVLTemplate",
        tags=["multimodal"],
        description="Qwen-VL (base): the default template; images become 'Picture N: <img>PATH</img>' in the text",
    ),
)

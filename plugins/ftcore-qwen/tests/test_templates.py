"""The Qwen templates against the models' own chat templates on the real tokenizer (fidelity checks)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest

from ftcore.templates import IGNORE_INDEX, get_template
from ftcore.testing import qwen25_tokenizer

CHAT_TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"

CONVERSATIONS = [
    [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
        {"role": "assistant", "content": "6"},
    ],
]


@functools.cache
def tokenizer_with(chat_template_file: str | None):
    """The real tokenizer with another chat_template (one copy per template file; tests do not modify it)."""
    tok = copy.deepcopy(qwen25_tokenizer())
    tok.chat_template = (CHAT_TEMPLATES / chat_template_file).read_text() if chat_template_file else None
    return tok


def ids_of(rendered) -> list[int]:
    return list(rendered["input_ids"]) if hasattr(rendered, "keys") else list(rendered)


def labelled_text(tok, enc) -> str:
    return tok.decode([i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX])


@pytest.mark.parametrize("template, chat_template", [("qwen2.5", "qwen2.5-instruct.jinja"),
                                                     ("qwen", "qwen2-instruct.jinja")])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_chatml_family_templates_match_the_official_chat_template(template, chat_template, conversation):
    tok = tokenizer_with(chat_template)
    t = get_template(template, tok)
    official = ids_of(tok.apply_chat_template(conversation, tokenize=True))
    enc = t.encode(conversation)
    # token for token, the last turn's "<|im_end|>\n" included; the "\n" after the stop token carries no loss
    assert enc["input_ids"] == official
    assert tok.decode(enc["input_ids"][-2:]) == "<|im_end|>\n"
    assert enc["labels"][-1] == IGNORE_INDEX and enc["labels"][-2] == enc["input_ids"][-2]
    assert labelled_text(tok, enc) == conversation[-1]["content"] + "<|im_end|>"
    prompt = conversation[:-1]
    assert t.encode_prompt(prompt) == ids_of(tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True))


@pytest.mark.parametrize("name, thinking", [("qwen3", True), ("qwen3-nothink", False)])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_qwen3_renders_with_enable_thinking(name, thinking, conversation):
    tok = qwen25_tokenizer()  # its chat_template is Qwen3's (with enable_thinking)
    t = get_template(name, tok)
    from ftcore_qwen.chat import Qwen3Template

    assert isinstance(t, Qwen3Template) and t.enable_thinking is thinking  # the spec's template_class
    enc = t.encode(conversation)
    assert enc["input_ids"] == ids_of(tok.apply_chat_template(conversation, tokenize=True, enable_thinking=thinking))
    learned = labelled_text(tok, enc)
    # thinking: the model learns to write the (here empty) think block; non-thinking: the prompt holds it
    expected = ("<think>\n\n</think>\n\n" if thinking else "") + conversation[-1]["content"] + "<|im_end|>"
    assert learned == expected
    prompt = conversation[:-1]
    assert t.encode_prompt(prompt) == ids_of(
        tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, enable_thinking=thinking)
    )


def test_qwen3_keeps_reasoning_of_the_last_turn():
    tok = qwen25_tokenizer()
    conversation = [{"role": "user", "content": "1+1?"},
                    {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n2"}]
    enc = get_template("qwen3", tok).encode(conversation)
    assert labelled_text(tok, enc) == "<think>\nadd them\n</think>\n\n2<|im_end|>"


def test_qwen3_without_its_chat_template_falls_back_to_chatml_parts():
    tok = tokenizer_with(None)
    t = get_template("qwen3-nothink", tok, system="Be brief.")
    text = t.render([{"role": "user", "content": "hi"}], generation=True)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
                    "<|im_start|>assistant\n<think>\n\n</think>\n\n")


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_qwen3_chatml_fallback_ends_turns_like_the_official_templates(conversation):
    tok = tokenizer_with(None)
    enc = get_template("qwen3", tok).encode(conversation)
    assert tok.decode(enc["input_ids"]).endswith(conversation[-1]["content"] + "<|im_end|>\n")
    assert enc["labels"][-1] == IGNORE_INDEX
    assert labelled_text(tok, enc) == conversation[-1]["content"] + "<|im_end|>"

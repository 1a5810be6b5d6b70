"""The core's ``xverse`` template on an XVERSE-shaped tokenizer encodes a held-out conversation as ms-swift does:
``"Human: Q0\\n\\nAssistant: R0" | eos | … | "Human: Q2\\n\\nAssistant: " | *"R2" | *eos``, no system slot.

XVERSE's tokenizer ships no chat_template, so ms-swift's format is the reference (no apply_chat_template check).
"""

from __future__ import annotations

import pytest

from ftcore.templates import IGNORE_INDEX, get_template

CONVERSATION = [
    {"role": "system", "content": "You are a careful assistant. 请简短回答。"},
    {"role": "user", "content": "你好，你是谁？"},
    {"role": "assistant", "content": "I am XVERSE, 一个语言模型。"},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "2+2 等于 4."},
    {"role": "user", "content": "谢谢! Bye."},
    {"role": "assistant", "content": "不客气, goodbye!"},
]


@pytest.fixture(scope="module")
def tok(xverse_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(xverse_dir)


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_xverse_template_stream(tok):
    t = get_template("xverse", tok)
    enc = t.encode(CONVERSATION)
    eos = tok.eos_token_id
    q0, r0, q1, r1, q2, r2 = (m["content"] for m in CONVERSATION[1:])
    expected = (ids(tok, f"Human: {q0}\n\nAssistant: {r0}") + [eos] + ids(tok, f"Human: {q1}\n\nAssistant: {r1}")
                + [eos] + ids(tok, f"Human: {q2}\n\nAssistant: {r2}") + [eos])
    assert enc["input_ids"] == expected
    assert "careful" not in tok.decode(enc["input_ids"])  # no system slot: the system is dropped (ms-swift)
    labelled = [i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX]
    assert tok.decode(labelled).strip() == r2 + tok.eos_token
    assert enc["labels"][-1] == eos
    assert t.encode_prompt(CONVERSATION[:-1]) == ids(tok, f"Human: {q0}\n\nAssistant: {r0}") + [eos] + ids(
        tok, f"Human: {q1}\n\nAssistant: {r1}") + [eos] + ids(tok, f"Human: {q2}\n\nAssistant: ")

"""InternLM's templates on the stand-in tokenizers.

* ``internlm2`` (InternLM2 / 2.5 / 3 chat) against the hub repos' chat_template: the same ids as
  ``apply_chat_template`` on multi-turn, system-prompt, Chinese + English conversations, labels exactly on the last
  answer and its ``<|im_end|>``. Pinned difference: without a system message ftcore writes InternLM's default
  system block (ms-swift; the model's own ``chat()``), the chat_template none.
* ``internlm`` (the core's, InternLM-1 chat; its tokenizer ships no chat_template) encodes ms-swift's stream
  ``"<s><|User|>:Q0<eoh>\\n<|Bot|>:R0<eoa>\\n…<|Bot|>:" | *"R2" | *"<eoa>\\n</s>"``, labelled up to ``<eoa>``.
"""

from __future__ import annotations

import pytest
from ftcore_internlm.templates import INTERNLM2_SYSTEM

from ftcore.templates import IGNORE_INDEX, get_template

CONVERSATIONS = [
    [
        {"role": "system", "content": "你是一个乐于助人的助手。Answer briefly."},
        {"role": "user", "content": "你好，你是谁？"},
        {"role": "assistant", "content": "I am InternLM, 一个语言模型。"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "2+2 等于 4."},
        {"role": "user", "content": "谢谢! Bye."},
        {"role": "assistant", "content": "不客气, goodbye!"},
    ],
    [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Translate 'cat' to Chinese."},
        {"role": "assistant", "content": "猫"},
    ],
]


@pytest.fixture(scope="module")
def tok2(internlm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(internlm2_dir, trust_remote_code=True)


@pytest.fixture(scope="module")
def tok1(internlm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(internlm_dir, trust_remote_code=True)


def ids_of(rendered) -> list[int]:
    return list(rendered["input_ids"]) if hasattr(rendered, "keys") else list(rendered)


def labelled_text(tok, enc) -> str:
    return tok.decode([i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX])


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_internlm2_matches_the_official_chat_template(tok2, conversation):
    t = get_template("internlm2", tok2)
    enc = t.encode(conversation)
    assert enc["input_ids"] == ids_of(tok2.apply_chat_template(conversation, tokenize=True))
    assert enc["input_ids"][0] == tok2.bos_token_id
    assert tok2.decode(enc["input_ids"][-2:]) == "<|im_end|>\n"
    assert enc["labels"][-1] == IGNORE_INDEX and enc["labels"][-2] == enc["input_ids"][-2]
    assert labelled_text(tok2, enc) == conversation[-1]["content"] + "<|im_end|>"
    prompt = conversation[:-1]
    assert t.encode_prompt(prompt) == ids_of(tok2.apply_chat_template(prompt, tokenize=True,
                                                                      add_generation_prompt=True))


def test_internlm2_without_system_writes_the_default_one(tok2):
    """The pinned difference: the chat_template writes no system block, ftcore InternLM's default one."""
    conversation = CONVERSATIONS[0][1:]
    enc = get_template("internlm2", tok2).encode(conversation)
    with_default = [{"role": "system", "content": INTERNLM2_SYSTEM}, *conversation]
    assert enc["input_ids"] == ids_of(tok2.apply_chat_template(with_default, tokenize=True))
    assert enc["input_ids"] != ids_of(tok2.apply_chat_template(conversation, tokenize=True))
    assert get_template("internlm2", tok2).spec.known_differences


def test_internlm1_template_stream(tok1):
    conversation = CONVERSATIONS[0]
    q0, r0, q1, r1, q2, r2 = (m["content"] for m in conversation[1:])
    enc = get_template("internlm", tok1).encode(conversation)
    text = (f"<s><|User|>:{q0}<eoh>\n<|Bot|>:{r0}<eoa>\n<|User|>:{q1}<eoh>\n<|Bot|>:{r1}<eoa>\n"
            f"<|User|>:{q2}<eoh>\n<|Bot|>:{r2}<eoa>\n</s>")
    assert enc["input_ids"] == tok1(text, add_special_tokens=False)["input_ids"]
    for special in ("<s>", "</s>", "<eoh>", "<eoa>"):  # single special ids in InternLM's tokenizer
        assert len(tok1(special, add_special_tokens=False)["input_ids"]) == 1
    assert enc["input_ids"][0] == tok1.bos_token_id and enc["input_ids"][-1] == tok1.eos_token_id
    assert "乐于助人" not in tok1.decode(enc["input_ids"])  # no system slot (ms-swift)
    # ms-swift labelled the whole suffix "<eoa>\n</s>"; ftcore labels the answer up to the turn end <eoa>
    assert labelled_text(tok1, enc) == r2 + "<eoa>"

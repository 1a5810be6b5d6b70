"""Template fidelity: ``llama`` (ms-swift's Llama-2 chat) and ``llama3`` against the models' own chat templates
(real-shaped tokenizers: :func:`ftcore.testing.build_chat_tokenizer_dir`), with the labels on answers + turn end."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from ftcore.templates import IGNORE_INDEX, get_template

CONVERSATIONS = [
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "你好，请介绍一下你自己。"},
     {"role": "assistant", "content": "你好！I am a small model."},
     {"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "2+2 等于 4."}],
    [{"role": "system", "content": "你是一个乐于助人的助手。"},
     {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}],
]


def ids_of(rendered) -> list[int]:
    return list(rendered["input_ids"]) if hasattr(rendered, "keys") else list(rendered)


def labelled(tok, enc) -> list[str]:
    """The labelled spans, decoded."""
    spans, cur = [], []
    for i, label in zip(enc["input_ids"], enc["labels"], strict=True):
        if label != IGNORE_INDEX:
            cur.append(i)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    if cur:
        spans.append(tok.decode(cur))
    return spans


@pytest.fixture(scope="module")
def tok3(llama3_dir):
    return AutoTokenizer.from_pretrained(llama3_dir)


@pytest.fixture(scope="module")
def tok2(llama2_dir):
    return AutoTokenizer.from_pretrained(llama2_dir)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_llama3_matches_the_official_chat_template(tok3, conversation):
    t = get_template("llama3", tok3)
    enc = t.encode(conversation)
    assert enc["input_ids"] == ids_of(tok3.apply_chat_template(conversation, tokenize=True))
    answers = [m["content"] + "<|eot_id|>" for m in conversation if m["role"] == "assistant"]
    assert labelled(tok3, enc)[-1] == answers[-1]
    assert enc["labels"][-1] == tok3.convert_tokens_to_ids("<|eot_id|>")
    prompt = conversation[:-1]
    assert t.encode_prompt(prompt) == ids_of(tok3.apply_chat_template(prompt, tokenize=True,
                                                                       add_generation_prompt=True))


def test_llama3_without_system_adds_the_default_system_turn(tok3):
    """Pinned difference (in the template's known_differences): ftcore writes a system turn, Llama 3.0 none."""
    conversation = CONVERSATIONS[1][1:]
    t = get_template("llama3", tok3, system="Be brief.")
    ours = tok3.decode(t.encode(conversation)["input_ids"])
    official = tok3.apply_chat_template(conversation, tokenize=False)
    assert ours == official.replace(
        "<|begin_of_text|>", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_llama_template_renders_the_llama2_chat_text(tok2, conversation):
    """ms-swift's ``llama`` writes Llama-2's text; the ids differ only where it tokenizes the answer apart from the
    space before it (pinned: the text is equal, ftcore's ids split ' [/INST] ' + answer)."""
    t = get_template("llama", tok2)
    enc = t.encode(conversation)
    official = tok2.apply_chat_template(conversation, tokenize=False)
    # Llama-2's chat_template ends each answer with ' </s>' and opens the next turn with '<s>' (no space)
    assert tok2.decode(enc["input_ids"]) == official.replace(" </s>", "</s>").replace("</s><s>", " </s><s>")
    # the space after '[/INST]' may merge into the answer's first token (byte-level BPE): compared without it
    assert [span.lstrip() for span in labelled(tok2, enc)] == [conversation[-1]["content"] + "</s>"]
    assert enc["input_ids"][0] == tok2.bos_token_id

"""ChatGLM's templates on the stand-in tokenizers.

* ``chatglm2`` (the core's; ChatGLM2's tokenizer ships no chat_template) encodes ms-swift's stream
  ``64790 64792 | "[Round 1]\\n\\n问：Q0\\n\\n答：R0\\n\\n[Round 2]…答：" | *"R2" | *<eos>``, no system slot;
  ``chatglm2-generation`` takes one turn.
* ``chatglm3`` / ``glm4`` against the models' chat_template (multi-turn, system prompt, Chinese + English): the
  same ids as ``apply_chat_template`` plus the pinned difference, one ``<|user|>`` after the final answer (the
  token that ends an assistant turn); labels exactly on the last answer (from the generation prompt's end) and
  that ``<|user|>``.
"""

from __future__ import annotations

import copy

import pytest

from ftcore.templates import IGNORE_INDEX, SkipSample, get_template

CONVERSATIONS = [
    [
        {"role": "system", "content": "你是一个乐于助人的助手。Answer briefly."},
        {"role": "user", "content": "你好，你是谁？"},
        {"role": "assistant", "content": "I am ChatGLM, 一个语言模型。"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "2+2 等于 4."},
        {"role": "user", "content": "谢谢! Bye."},
        {"role": "assistant", "content": "不客气, goodbye!"},
    ],
    [
        {"role": "user", "content": "Translate 'cat' to Chinese."},
        {"role": "assistant", "content": "猫"},
    ],
]


@pytest.fixture(scope="module")
def tokenizers(chatglm_dir, glm_dir, glm4_dir):
    from transformers import AutoTokenizer

    return {
        "chatglm": AutoTokenizer.from_pretrained(chatglm_dir, trust_remote_code=True),
        "glm": AutoTokenizer.from_pretrained(glm_dir),
        "glm4": AutoTokenizer.from_pretrained(glm4_dir),
    }


def ids_of(rendered) -> list[int]:
    return list(rendered["input_ids"]) if hasattr(rendered, "keys") else list(rendered)


def labelled_text(tok, enc) -> str:
    return tok.decode([i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX])


def test_chatglm2_stream(tokenizers):
    tok = tokenizers["chatglm"]
    conversation = CONVERSATIONS[0]
    q0, r0, q1, r1, q2, r2 = (m["content"] for m in conversation[1:])
    enc = get_template("chatglm2", tok).encode(conversation)
    text = (f"[Round 1]\n\n问：{q0}\n\n答：{r0}\n\n[Round 2]\n\n问：{q1}\n\n答：{r1}\n\n"
            f"[Round 3]\n\n问：{q2}\n\n答：{r2}")
    assert enc["input_ids"] == [64790, 64792, *tok(text, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    assert "乐于助人" not in tok.decode(enc["input_ids"])  # no system slot (ms-swift)
    assert labelled_text(tok, enc) == r2 + tok.eos_token


def test_chatglm2_generation_is_single_turn(tokenizers):
    tok = tokenizers["chatglm"]
    t = get_template("chatglm2-generation", tok)
    enc = t.encode(CONVERSATIONS[1])
    q, r = (m["content"] for m in CONVERSATIONS[1])
    assert enc["input_ids"] == [64790, 64792, *tok(q + r, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    with pytest.raises(SkipSample):
        t.encode(CONVERSATIONS[0])


@pytest.mark.parametrize("template, arch", [("chatglm3", "chatglm"), ("glm4", "glm"), ("glm4", "glm4")])
@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_glm_templates_match_the_chat_template_plus_the_turn_end(tokenizers, template, arch, conversation):
    tok = tokenizers[arch]
    t = get_template(template, tok)
    from ftcore_chatglm.chat import GLMTemplate

    assert isinstance(t, GLMTemplate)
    user = tok.convert_tokens_to_ids("<|user|>")
    enc = t.encode(conversation)
    official = ids_of(tok.apply_chat_template(conversation, tokenize=True))
    assert enc["input_ids"] == [*official, user]  # the pinned difference: <|user|> ends the final answer
    answer = conversation[-1]["content"]
    learned = labelled_text(tok, enc)
    # from the end of the generation prompt "<|assistant|>": the newline (ChatGLM3: newline + space), the answer,
    # then the turn end
    assert learned == ("\n " if template == "chatglm3" else "\n") + answer + "<|user|>"
    assert enc["labels"][-1] == user
    prompt = conversation[:-1]
    assert t.encode_prompt(prompt) == ids_of(tok.apply_chat_template(prompt, tokenize=True,
                                                                     add_generation_prompt=True))


def test_glm4_without_a_chat_template_uses_the_parts(tokenizers):
    tok = copy.deepcopy(tokenizers["glm4"])
    tok.chat_template = None
    t = get_template("glm4", tok)
    enc = t.encode(CONVERSATIONS[1])
    assert tok.decode(enc["input_ids"]) == "[gMASK]<sop><|user|>\nTranslate 'cat' to Chinese.<|assistant|>\n猫<|user|>"
    assert labelled_text(tok, enc) == "猫<|user|>"

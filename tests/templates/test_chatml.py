"""chatml golden tests against the real Qwen2.5 tokenizer: exact text, exact ids, labels span by span."""

from __future__ import annotations

import pytest

from ftcore.templates import DEFAULT_SYSTEM, SkipSample, get_template
from ftcore.templates.display import label_runs, labelled_texts

S, Q0, R0, Q1, R1 = "S", "Q0", "R0", "你好", "R1 回答"


def conv(system: bool = True, history: bool = True) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": S}] if system else []
    if history:
        msgs += [{"role": "user", "content": Q0}, {"role": "assistant", "content": R0}]
    return msgs + [{"role": "user", "content": Q1}, {"role": "assistant", "content": R1}]


def test_chatml_multi_turn_text_ids_and_labels(qwen_tok):
    t = get_template("chatml", qwen_tok)
    enc = t.encode(conv())
    text = (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ0<|im_end|>\n<|im_start|>assistant\nR0<|im_end|>\n"
        "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\nR1 回答<|im_end|>\n"
    )
    assert qwen_tok.decode(enc["input_ids"]) == text
    assert enc["input_ids"] == qwen_tok(text, add_special_tokens=False)["input_ids"]
    assert enc["input_ids"][-2:] == [151645, 198]
    assert label_runs(qwen_tok, enc["input_ids"], enc["labels"]) == [
        (False, text[: text.rindex("R1")]),
        (True, "R1 回答<|im_end|>"),
        (False, "\n"),
    ]


def test_chatml_loss_on_all_labels_every_answer_and_its_turn_end(qwen_tok):
    t = get_template("chatml", qwen_tok, loss_on="all")
    assert labelled_texts(qwen_tok, t.encode(conv())) == ["R0<|im_end|>", "R1 回答<|im_end|>"]


def test_chatml_default_system_and_single_turn(qwen_tok):
    t = get_template("chatml", qwen_tok)
    enc = t.encode(conv(system=False, history=False))
    assert qwen_tok.decode(enc["input_ids"]).startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")
    t2 = get_template("chatml", qwen_tok, system="Be brief.")
    assert "Be brief." in qwen_tok.decode(t2.encode(conv(system=False))["input_ids"])
    # a conversation's own system wins over the setting
    assert "Be brief." not in qwen_tok.decode(t2.encode(conv())["input_ids"])


def test_chatml_prompt_and_stop(qwen_tok):
    t = get_template("chatml", qwen_tok)
    prompt = t.encode_prompt(conv()[:-1])
    assert qwen_tok.decode(prompt).endswith("<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n")
    assert t.stop_words == ["<|im_end|>"]
    assert t.stop_token_ids == [151645]
    full = t.encode(conv())["input_ids"]
    assert full[: len(prompt)] == prompt


def test_chatml_truncation(qwen_tok):
    msgs = conv()
    n = len(get_template("chatml", qwen_tok).encode(msgs)["input_ids"])
    left = get_template("chatml", qwen_tok, max_length=10).encode(msgs)
    assert len(left["input_ids"]) == 10
    with pytest.raises(SkipSample) as exc:
        get_template("chatml", qwen_tok, max_length=n - 1, truncation="drop").encode(msgs)
    assert exc.value.reason == "too long"
    with pytest.raises(SkipSample) as exc:
        get_template("chatml", qwen_tok, max_length=10, truncation="right").encode(msgs)
    assert exc.value.reason == "too long"

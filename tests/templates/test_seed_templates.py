"""Golden tests for every seed template: exact text, exact token ids, labels span by span.

The tokenizer is the real Qwen2.5 one with ``<s>`` / ``</s>`` as bos / eos and InternLM's ``<eoh>`` / ``<eoa>``
added as special tokens, so templates that place bos / eos ids can be checked with one vocabulary.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ftcore.errors import FtcoreError
from ftcore.registry import get_catalog
from ftcore.templates import DEFAULT_SYSTEM, SkipSample, get_template
from ftcore.templates.display import label_runs, labelled_texts

SEED_ORDER = [
    "default", "default-generation", "chatml", "baichuan", "chatglm2", "chatglm2-generation",
    "llama", "openbuddy", "internlm", "xverse", "ziya",
]
BOS, EOS = "bos", "eos"


@pytest.fixture(scope="module")
def tok(qwen_tok: Any) -> Any:
    t = copy.deepcopy(qwen_tok)
    t.add_special_tokens({"bos_token": "<s>", "eos_token": "</s>"})
    t.add_tokens(["<eoh>", "<eoa>"], special_tokens=True)
    return t


def ids_of(tok: Any, stream: list[Any]) -> list[int]:
    """The token ids of a stream written as text segments and id lists (each text segment tokenized alone)."""
    out: list[int] = []
    for item in stream:
        if isinstance(item, str):
            out += tok(item, add_special_tokens=False)["input_ids"]
        else:
            out += [tok.bos_token_id if x == BOS else tok.eos_token_id if x == EOS else x for x in item]
    return out


def messages(system: str | None, rounds: list[tuple[str, str]]) -> list[dict[str, str]]:
    msgs = [] if system is None else [{"role": "system", "content": system}]
    for q, r in rounds:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": r}]
    return msgs


# system S, history [(Q0, R0), (Q1, R1)], query Q2, response R2 -- the whole stream, and the labelled
# runs with loss_on = "last" and "all" (answers plus their turn end; chat_sep parts after the turn end never).
MULTI_TURN: dict[str, tuple[list[Any], list[str], list[str]]] = {
    "default": (
        ["S\n\n### Human:\nQ0\n\n### Assistant:\nR0\n\n### Human:\nQ1\n\n### Assistant:\nR1\n\n"
         "### Human:\nQ2\n\n### Assistant:\nR2", [EOS]],
        ["R2</s>"], ["R0", "R1", "R2</s>"],
    ),
    "chatml": (
        ["<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ0<|im_end|>\n<|im_start|>assistant\nR0<|im_end|>\n"
         "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nR1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n"
         "<|im_start|>assistant\nR2<|im_end|>\n"],
        ["R2<|im_end|>"], ["R0<|im_end|>", "R1<|im_end|>", "R2<|im_end|>"],
    ),
    "baichuan": (
        [[195], "Q0", [196], "R0", [195], "Q1", [196], "R1", [195], "Q2", [196], "R2", [EOS]],
        ["R2</s>"], ["R0", "R1", "R2</s>"],
    ),
    "chatglm2": (
        [[64790, 64792], "[Round 1]\n\n问：Q0\n\n答：R0\n\n[Round 2]\n\n问：Q1\n\n答：R1\n\n[Round 3]\n\n问：Q2\n\n答：R2",
         [EOS]],
        ["R2</s>"], ["R0", "R1", "R2</s>"],
    ),
    "llama": (
        [[BOS], "[INST] <<SYS>>\nS\n<</SYS>>\n\nQ0 [/INST] R0 ", [EOS, BOS], "[INST] Q1 [/INST] R1 ", [EOS, BOS],
         "[INST] Q2 [/INST] R2", [EOS]],
        [" R2</s>"], [" R0 </s>", " R1 </s>", " R2</s>"],
    ),
    "openbuddy": (
        ["S\n\nUser: Q0\nAssistant: R0\nUser: Q1\nAssistant: R1\nUser: Q2\nAssistant: R2", [EOS]],
        [" R2</s>"], [" R0", " R1", " R2</s>"],
    ),
    "internlm": (
        ["<s><|User|>:Q0<eoh>\n<|Bot|>:R0<eoa>\n<|User|>:Q1<eoh>\n<|Bot|>:R1<eoa>\n<|User|>:Q2<eoh>\n<|Bot|>:R2<eoa>\n</s>"],
        ["R2<eoa>"], ["R0<eoa>", "R1<eoa>", "R2<eoa>"],
    ),
    "xverse": (
        ["Human: Q0\n\nAssistant: R0", [EOS], "Human: Q1\n\nAssistant: R1", [EOS], "Human: Q2\n\nAssistant: R2", [EOS]],
        [" R2</s>"], [" R0</s>", " R1</s>", " R2</s>"],
    ),
    "ziya": (
        [[BOS], "<human>:Q0\n<bot>:R0\n<human>:Q1\n<bot>:R1\n<human>:Q2\n<bot>:R2", [EOS]],
        ["R2</s>"], ["R0", "R1", "R2</s>"],
    ),
}

Q, R = "你好，世界", "Hello there!"


def single_turn(name: str, system: str) -> list[Any]:
    """pieces for one round (query Q, response R) with the effective system prompt."""
    return {
        "default": [f"{system}\n\n### Human:\n{Q}\n\n### Assistant:\n{R}", [EOS]],
        "default-generation": [f"{Q}{R}", [EOS]],
        "chatml": [f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{Q}<|im_end|>\n<|im_start|>assistant\n"
                   f"{R}<|im_end|>\n"],
        "baichuan": [[195], Q, [196], R, [EOS]],
        "chatglm2": [[64790, 64792], f"[Round 1]\n\n问：{Q}\n\n答：{R}", [EOS]],
        "chatglm2-generation": [[64790, 64792], f"{Q}{R}", [EOS]],
        "llama": [[BOS], f"[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{Q} [/INST] {R}", [EOS]],
        "openbuddy": [f"{system}\n\nUser: {Q}\nAssistant: {R}", [EOS]],
        "internlm": [f"<s><|User|>:{Q}<eoh>\n<|Bot|>:{R}<eoa>\n</s>"],
        "xverse": [f"Human: {Q}\n\nAssistant: {R}", [EOS]],
        "ziya": [[BOS], f"<human>:{Q}\n<bot>:{R}", [EOS]],
    }[name]


def test_every_seed_template_is_registered_in_the_seed_order():
    names = get_catalog().templates.names()
    assert [n for n in names if n in SEED_ORDER] == SEED_ORDER
    assert "jinja" in names
    assert "tigerbot" not in names  # the docs' example plugin, not core


@pytest.mark.parametrize("name", sorted(MULTI_TURN))
def test_multi_turn_with_history_and_system(tok, name):
    stream, last, every = MULTI_TURN[name]
    msgs = messages("S", [("Q0", "R0"), ("Q1", "R1"), ("Q2", "R2")])
    enc = get_template(name, tok).encode(msgs)
    assert enc["input_ids"] == ids_of(tok, stream)
    assert len(enc["labels"]) == len(enc["input_ids"])
    assert labelled_texts(tok, enc) == last
    assert labelled_texts(tok, get_template(name, tok, loss_on="all").encode(msgs)) == every
    # the generation prompt is the stream up to the final answer
    prompt = get_template(name, tok).encode_prompt(msgs[:-1])
    assert tok.decode(prompt) == tok.decode(enc["input_ids"]).rsplit("R2", 1)[0].rstrip(" ") + (
        " " if name in ("llama", "openbuddy", "xverse") else ""
    )


@pytest.mark.parametrize("name", SEED_ORDER)
@pytest.mark.parametrize("system", [None, "你是一个助手。"])
def test_single_turn_with_and_without_system(tok, name, system):
    t = get_template(name, tok)
    enc = t.encode(messages(system, [(Q, R)]))
    expected = single_turn(name, system if system is not None else DEFAULT_SYSTEM)
    assert enc["input_ids"] == ids_of(tok, expected)
    runs = label_runs(tok, enc["input_ids"], enc["labels"])
    # templates whose prompt ends with a space: the answer's first token carries that space (" Hello")
    space = " " if name in ("llama", "openbuddy", "xverse") else ""
    assert [text for labelled, text in runs if labelled] == [
        space + R + {"chatml": "<|im_end|>", "internlm": "<eoa>"}.get(name, "</s>")
    ]
    # nothing before the answer carries loss, and for chatml / internlm nothing after the turn end either
    assert runs[0][0] is False
    if name in ("chatml", "internlm"):
        assert runs[-1] == (False, "\n" if name == "chatml" else "\n</s>")


def test_templates_without_a_system_slot_ignore_the_system(tok):
    for name in ("default-generation", "baichuan", "chatglm2", "chatglm2-generation", "internlm", "xverse", "ziya"):
        t = get_template(name, tok)
        assert not t.has_system
        assert t.encode(messages("SYSTEM TEXT", [(Q, R)])) == t.encode(messages(None, [(Q, R)]))
    for name in ("default", "chatml", "llama", "openbuddy"):
        assert get_template(name, tok).has_system


@pytest.mark.parametrize("name", ["default-generation", "chatglm2-generation"])
def test_single_turn_templates_skip_multi_turn_samples(tok, name):
    with pytest.raises(SkipSample) as exc:
        get_template(name, tok).encode(messages(None, [("a", "b"), ("c", "d")]))
    assert exc.value.reason == "multi-turn not supported"


def test_default_generation_pretrains_on_raw_text(tok):
    t = get_template("default-generation", tok)
    enc = t.encode([{"role": "assistant", "content": "raw text to learn"}])
    assert enc["input_ids"] == ids_of(tok, ["raw text to learn", [EOS]])
    assert enc["labels"] == enc["input_ids"]


def test_empty_system_is_substituted_as_empty(tok):
    enc = get_template("default", tok).encode(messages("", [(Q, R)]))
    assert tok.decode(enc["input_ids"]).startswith("\n\n### Human:\n")


def test_chat_sep_empty_list_means_multi_turn_without_separator(tok):
    t = get_template("baichuan", tok)
    assert t.supports_multi_turn
    assert not get_template("default-generation", tok).supports_multi_turn


def test_train_on_prompt_labels_every_token(tok):
    for name in SEED_ORDER:
        enc = get_template(name, tok, train_on_prompt=True).encode(messages("S", [(Q, R)]))
        assert enc["labels"] == enc["input_ids"]


def test_token_names_resolve_on_the_tokenizer_and_missing_ones_are_clear(qwen_tok, tok):
    assert get_template("llama", tok).encode(messages(None, [(Q, R)]))["input_ids"][0] == tok.bos_token_id
    with pytest.raises(FtcoreError, match="bos_token_id"):
        get_template("llama", qwen_tok)  # Qwen has no bos token


def test_stop_words_and_ids(tok, qwen_tok):
    t = get_template("internlm", tok)
    assert t.stop_words == ["<eoa>", "</s>"]
    assert t.stop_token_ids == [tok.eos_token_id, tok.convert_tokens_to_ids("<eoa>")]
    d = get_template("default", tok)
    assert d.stop_words == ["</s>"] and d.stop_token_ids == [tok.eos_token_id]

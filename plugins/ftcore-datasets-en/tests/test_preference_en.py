"""The pack's preference datasets: registered as ``task = "preference"``, and their preprocessing turns the raw
shapes (fixtures/hh_rlhf.jsonl, fixtures/ultrafeedback.jsonl: hand-written rows) into prompt + chosen / rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ftcore_datasets_en import preference_specs

from ftcore.data.rows import BadRow

FIXTURES = Path(__file__).parent / "fixtures"
SPECS = {s.name: s for s in preference_specs()}


def outcomes(name: str, fixture: str) -> list[dict | str]:
    """Each fixture row's normalized pair, or the reason it is a bad row."""
    out: list[dict | str] = []
    for line in (FIXTURES / fixture).read_text(encoding="utf-8").splitlines():
        try:
            out.append(SPECS[name].preprocess(json.loads(line)))
        except BadRow as exc:
            out.append(exc.reason)
    return out


def test_specs():
    assert sorted(SPECS) == ["hh-rlhf-en", "ultrafeedback-binarized-en", "ultrafeedback-kto-en"]
    for spec in SPECS.values():
        assert spec.problems() == [] and spec.languages == ["en"]
        assert spec.task == ("kto" if spec.name.endswith("-kto-en") else "preference")
    assert SPECS["hh-rlhf-en"].hub == {
        "huggingface": "Anthropic/hh-rlhf",
        "modelscope": "AI-ModelScope/hh-rlhf",
    }
    assert (SPECS["hh-rlhf-en"].train, SPECS["hh-rlhf-en"].validation) == (["train"], ["test"])
    uf = SPECS["ultrafeedback-binarized-en"]
    assert uf.hub == {"huggingface": "HuggingFaceH4/ultrafeedback_binarized"}
    assert (uf.train, uf.validation) == (["train_prefs"], ["test_prefs"])


def test_hh_rlhf_transcripts_become_multi_turn_prompts():
    single, multi, empty, diverging = outcomes("hh-rlhf-en", "hh_rlhf.jsonl")
    assert single == {
        "messages": [{"role": "user", "content": "What is a good name for a cat?"}],
        "chosen": "Whiskers is a classic choice.",
        "rejected": "I don't know.",
        "images": [],
    }
    assert [m["role"] for m in multi["messages"]] == ["user", "assistant", "user"]
    assert multi["messages"][1]["content"] == "Do you want it soft or hard?"
    assert multi["chosen"].startswith("Boil it") and multi["rejected"] == "Put it in the microwave."
    assert (empty, diverging) == ("empty response", "malformed field")


def test_ultrafeedback_message_lists():
    first, second, empty = outcomes("ultrafeedback-binarized-en", "ultrafeedback.jsonl")
    assert first == {
        "messages": [{"role": "user", "content": "Name a primary colour."}],
        "chosen": "Red.",
        "rejected": "Green.",
        "images": [],
    }
    assert second["chosen"].count("\n") == 2 and second["rejected"] == "Rain is wet."
    assert empty == "empty response"


def test_ultrafeedback_kto_rows():
    good, bad, wrong = outcomes("ultrafeedback-kto-en", "ultrafeedback_kto.jsonl")
    assert good == {
        "messages": [
            {"role": "user", "content": "Name a primary colour."},
            {"role": "assistant", "content": "Red."},
        ],
        "label": True,
        "images": [],
    }
    assert bad["label"] is False and wrong == "wrong type"


@pytest.mark.parametrize(
    ("name", "row", "reason"),
    [
        ("hh-rlhf-en", {"chosen": None, "rejected": "\n\nHuman: a\n\nAssistant: b"}, "missing field"),
        ("hh-rlhf-en", {"chosen": "no markers", "rejected": "no markers"}, "unparseable conversation"),
        ("hh-rlhf-en", {"chosen": "\n\nHuman: a", "rejected": "\n\nHuman: a"}, "unparseable conversation"),
        ("ultrafeedback-binarized-en", {"chosen": "text", "rejected": []}, "wrong type"),
        ("ultrafeedback-binarized-en", {"rejected": []}, "missing field"),
    ],
)
def test_bad_rows(name, row, reason):
    with pytest.raises(BadRow) as info:
        SPECS[name].preprocess(row)
    assert info.value.reason == reason


def test_registered_in_the_catalog():
    from ftcore.registry import get_catalog, reset

    reset()
    for name in SPECS:
        assert get_catalog().datasets.get(name).plugin.startswith("ftcore-datasets-en ")


def test_readme_and_docs_table_every_dataset():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    docs = (Path(__file__).parents[3] / "docs" / "datasets.md").read_text(encoding="utf-8")
    for name in SPECS:
        assert f"| `{name}` | en |" in readme and f"| `{name}` | en |" in docs, name

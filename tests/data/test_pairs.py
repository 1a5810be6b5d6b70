"""Preference rows: every accepted form normalizes to the documented shape; bad rows are reported by reason with
their row numbers; pairs encode to prompt / chosen / rejected ids with the prompt alone truncated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftcore.data.normalize import normalize_one
from ftcore.data.pairs import public_pair

PROMPT = [{"role": "user", "content": "q"}]
ROWS = [
    ({"prompt": "q", "chosen": "a", "rejected": "b"}, None),
    ({"messages": PROMPT, "chosen": [{"role": "assistant", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "b"}]}, None),
    ({"query": "q", "response": "a", "rejected_response": "b"}, None),  # ms-swift
    ({"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"},
      "rejected": {"from": "gpt", "value": "b"}}, None),  # ShareGPT-style
    ({"chosen": [*PROMPT, {"role": "assistant", "content": "a"}],
      "rejected": [*PROMPT, {"role": "assistant", "content": "b"}]}, None),  # TRL's implicit prompt
    ({"prompt": PROMPT, "chosen": "a", "rejected": "b"}, None),
]


@pytest.mark.parametrize(("row", "columns"), ROWS)
def test_pair_forms(row: dict[str, Any], columns: Any) -> None:
    norm, reason, _ = normalize_one(row, columns, None)
    assert reason is None
    assert public_pair(norm["messages"]) == {"messages": PROMPT, "chosen": "a", "rejected": "b"}


def test_multi_turn_system_kto_mapping_and_preprocess() -> None:
    row = {"system": "S", "history": [["q0", "r0"]], "query": "q", "response": "a", "rejected_response": "b"}
    assert public_pair(normalize_one(row, None, None)[0]["messages"])["messages"] == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "q0"},
        {"role": "assistant", "content": "r0"}, {"role": "user", "content": "q"}]
    kto = normalize_one({"prompt": "q", "completion": "a", "label": False}, None, None)[0]
    assert public_pair(kto["messages"]) == {"messages": [*PROMPT, {"role": "assistant", "content": "a"}],
                                            "label": False}
    mapped = normalize_one({"Q": "q", "good": "a", "bad": "b"}, {"Q": "prompt", "good": "chosen",
                                                                  "bad": "rejected"}, None)[0]
    assert public_pair(mapped["messages"])["chosen"] == "a"
    pre = normalize_one({"x": 1}, None, lambda r: {"messages": PROMPT, "chosen": "a", "rejected": "b"})[0]
    assert public_pair(pre["messages"]) == {"messages": PROMPT, "chosen": "a", "rejected": "b"}


def test_bad_pairs_are_reported_by_reason_and_row(tmp_path: Path, jsonl: Any, make_cfg: Any,
                                                  fake_template: Any) -> None:
    from ftcore.data.preference import prepare_preference_data

    rows = [{"prompt": f"question {i}", "chosen": "yes", "rejected": "no"} for i in range(4)]
    rows += [{"prompt": "q", "chosen": "same", "rejected": "same"},      # row 5: identical
             {"prompt": "q", "chosen": "only one side"},                  # row 6: missing side
             {"prompt": "q", "chosen": "  ", "rejected": "b"},            # row 7: empty
             {"prompt": "p" * 40, "chosen": "fits", "rejected": "no"},   # row 8: prompt truncated
             {"prompt": "q", "chosen": "c" * 80, "rejected": "no"}]      # row 9: answer too long
    cfg = make_cfg(datasets=[str(jsonl(tmp_path / "pairs.jsonl", rows))])
    cfg = cfg.model_copy(update={"template": cfg.template.model_copy(update={"max_length": 32})})
    data = prepare_preference_data(cfg, fake_template(max_length=None))
    (source,) = data.report.sources
    assert source.examples == {"identical chosen and rejected": [5], "missing chosen or rejected": [6],
                               "empty response": [7], "too long after truncating the prompt": [9]}
    assert source.truncated == 1 and len(data.train) == 5
    row = data.train[4]
    assert len(row["prompt_ids"]) + len(row["chosen_ids"]) <= 32 and row["chosen_ids"][-1] == 2  # turn end kept
    assert set(data.train.column_names) == {"prompt_ids", "chosen_ids", "rejected_ids", "length"}


def test_sft_on_preference_rows_trains_on_the_chosen_answer(fake_template: Any) -> None:
    from ftcore.data.encode import encode_rows
    from ftcore.data.formats import BadRow

    pair = normalize_one({"prompt": "q", "chosen": "a", "rejected": "b"}, None, None)[0]["messages"]
    bad = normalize_one({"prompt": "q", "completion": "a", "label": False}, None, None)[0]["messages"]
    sft = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    out = encode_rows(fake_template(max_length=None), [pair, bad, sft], [[], [], []])
    assert out[0] == out[2]  # the pair encodes as prompt + chosen
    assert isinstance(out[1], BadRow) and "undesirable" in str(out[1])


def test_datasets_show_prints_pairs_in_their_documented_form(tmp_path: Path, jsonl: Any, capsys: Any,
                                                              monkeypatch: Any) -> None:
    import json

    from ftcore import plugins
    from ftcore.cli import main

    monkeypatch.setenv(plugins.ENV_LOAD_PLUGINS, "")
    plugins.reset()
    path = jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    assert main(["datasets", "show", "self-cognition-mini", "--file", str(path), "--rows", "1"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out[out.index("--- row 1") + len("--- row 1"):])
    assert shown == {"messages": PROMPT, "chosen": "a", "rejected": "b"}
    plugins.reset()

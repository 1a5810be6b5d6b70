"""Every English / multilingual ms-swift dataset is registered, and its preprocessing turns rows of its raw shape
into valid messages. The fixtures under fixtures/ are small hand-written rows in each raw shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ftcore_datasets_en import preprocess as p
from ftcore_datasets_en import specs
from ftcore_datasets_en.datasets import MULTI_ALPACA

from ftcore.data.formats import BadRow, check_normalized
from ftcore.data.rows import message_problem

FIXTURES = Path(__file__).parent / "fixtures"

#: ms-swift's English / multilingual datasets (issue #9 item 6)
SEED_EN = [
    "alpaca-en", "multi-alpaca-all", "instinwild-en", "cot-en", "instruct-en", "gpt4all-en", "sharegpt-en",
    "code-alpaca-en", "leetcode-python-en", "medical-en", "text2sql-en", "sql-create-context-en", "finance-en",
    "coco-en", "agent-instruct-all-en",
]  # fmt: skip

#: dataset -> (fixture in its raw shape, rows kept)
CASES = {
    "alpaca-en": ("alpaca.jsonl", 3),
    "multi-alpaca-all": ("multi_alpaca.jsonl", 3),
    "instinwild-en": ("alpaca.jsonl", 3),
    "cot-en": ("alpaca.jsonl", 3),
    "gpt4all-en": ("alpaca.jsonl", 3),
    "code-alpaca-en": ("code_alpaca.jsonl", 2),
    "text2sql-en": ("text2sql.jsonl", 2),
    "finance-en": ("finance.jsonl", 2),
    "instruct-en": ("instruct.jsonl", 2),
    "sharegpt-en": ("sharegpt.jsonl", 2),
    "leetcode-python-en": ("leetcode.jsonl", 2),
    "medical-en": ("medical_en.jsonl", 2),
    "sql-create-context-en": ("sql_create_context.jsonl", 2),
    "coco-en": ("coco.jsonl", 2),
    "agent-instruct-all-en": ("agent_instruct.jsonl", 2),
}

SPECS = {s.name: s for s in specs()}


def rows(fixture: str) -> list[dict]:
    with open(FIXTURES / fixture, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def normalize(name: str, row: dict) -> dict | None:
    return SPECS[name].preprocess(row)


def last_exchange(out: dict) -> tuple[str, str]:
    user, assistant = out["messages"][-2:]
    assert (user["role"], assistant["role"]) == ("user", "assistant")
    return user["content"], assistant["content"]


def test_pack_registers_every_seed_dataset():
    assert sorted(SPECS) == sorted(SEED_EN)
    assert sorted(CASES) == sorted(SEED_EN), "every dataset needs a fixture case"


@pytest.mark.parametrize("name", SEED_EN)
def test_spec_is_complete(name):
    spec = SPECS[name]
    assert spec.problems() == []
    assert spec.hub.get("modelscope"), "every ms-swift dataset lives on ModelScope"
    assert set(spec.hub) <= {"modelscope", "huggingface"}
    assert spec.languages
    assert spec.task in ("chat", "multimodal")
    assert callable(spec.preprocess)
    assert spec.description
    for split in [*spec.train, *spec.validation]:
        assert split and split.count(":") <= 1 and all(split.split(":")), split


@pytest.mark.parametrize("name", SEED_EN)
def test_preprocess_fixture_rows(name):
    fixture, kept = CASES[name]
    outs = [normalize(name, row) for row in rows(fixture)]
    assert len([o for o in outs if o is not None]) == kept
    for out in outs:
        assert set(out) == {"messages", "images"}
        assert message_problem(out["messages"]) is None, out["messages"]
        assert all(isinstance(i, str) and i for i in out["images"])
        check_normalized(out)  # the data pipeline's own check of what a preprocess function returns


# --------------------------------------------------------------------------------------------------
# exact wording


def test_alpaca_rule():
    outs = [normalize("alpaca-en", r) for r in rows("alpaca.jsonl")]
    assert last_exchange(outs[0])[0] == "Give three tips for staying focused."
    assert last_exchange(outs[1]) == (
        "Rewrite the sentence in the passive voice.\nThe cat chased the mouse.",
        "The mouse was chased by the cat.",
    )
    assert last_exchange(outs[2])[0] == "Name the capital city."
    assert all(len(o["messages"]) == 2 for o in outs)


def test_multi_alpaca_all_registers_the_intent():
    """ms-swift never registered it; the intent is all 11 language subsets, Smart → Alpaca."""
    spec = SPECS["multi-alpaca-all"]
    assert spec.hub == {"modelscope": "damo/nlp_polylm_multialpaca_sft"}
    assert spec.train == [
        f"{k}:train" for k in ("ar", "de", "es", "fr", "id", "ja", "ko", "pt", "ru", "th", "vi")
    ]
    assert spec.validation == []
    assert spec.languages == list(MULTI_ALPACA) and len(MULTI_ALPACA) == 11
    assert "Arabic 14,671" in spec.description and "vi Vietnamese 13,908" in spec.description
    out = normalize("multi-alpaca-all", rows("multi_alpaca.jsonl")[1])
    assert last_exchange(out) == ("Traduis en anglais.\nBonjour tout le monde.", "Hello everyone.")


def test_instinwild_en_uses_the_english_subset():
    assert SPECS["instinwild-en"].train == ["subset:train"]


def test_instruct_renames_prompt_completion():
    out = normalize("instruct-en", rows("instruct.jsonl")[1])
    assert out["messages"] == [
        {"role": "user", "content": "Suggest a name for a pet turtle."},
        {"role": "assistant", "content": "Sheldon."},
    ]


def test_sharegpt_rounds_become_history():
    out = normalize("sharegpt-en", rows("sharegpt.jsonl")[1])
    assert out["messages"] == [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And times 3?"},
        {"role": "assistant", "content": "12."},
    ]
    assert SPECS["sharegpt-en"].train == ["common-en:train", "computer-en:train"]


def test_agent_instruct_repairs_and_maps_roles():
    spec = SPECS["agent-instruct-all-en"]
    assert spec.hub == {"modelscope": "huangjintao/AgentInstruct_copy"}
    assert spec.train == [f"{s}:train" for s in ("alfworld", "db", "kg", "mind2web", "os", "webshop")]
    first, second = (normalize("agent-instruct-all-en", r) for r in rows("agent_instruct.jsonl"))
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant"]
    assert first["messages"][1]["content"] == "Think: I need a mug.\nAct: go to shelf 1"
    assert second["messages"] == [{"role": "user", "content": "List the tables. 用 SQL 回答。"},
                                  {"role": "assistant", "content": "SHOW TABLES;"}]
    with pytest.raises(BadRow, match="unparseable conversation"):
        normalize("agent-instruct-all-en", {"conversations": "[{'from': 'human', 'value': 'a'}\n {'from': 'x'}]"})


def test_leetcode_split():
    first, second = (normalize("leetcode-python-en", r) for r in rows("leetcode.jsonl"))
    query, response = last_exchange(first)
    assert query == (
        "Two Sum\nGiven an array and a target, return the indices of two numbers adding up to the target.\n\n"
    )
    assert response.startswith("```python\nclass Solution:")
    assert response.endswith("```\n\nKeep a map from value to index and look up the complement.")
    query, response = last_exchange(second)
    assert query == "Check whether a string reads the same backwards.\n"  # no "# ": kept as is
    assert response == (
        "```python\ndef is_palindrome(s):\n    return s == s[::-1]\n```\n\nCompare the string with its reverse."
    )


def test_medical_en_uses_input_column():
    out = normalize("medical-en", rows("medical_en.jsonl")[0])
    assert last_exchange(out) == (
        "What should I do about a mild sunburn?",
        "Cool the skin, drink water and use a moisturising lotion.",
    )
    assert SPECS["medical-en"].train == ["en:train", "en:val"]
    assert SPECS["medical-en"].validation == ["en:test"]


def test_sql_create_context_joins_question_and_context():
    out = normalize("sql-create-context-en", rows("sql_create_context.jsonl")[0])
    assert last_exchange(out) == (
        "How many heads of departments are older than 56?\nCREATE TABLE head (age INTEGER)",
        "SELECT COUNT(*) FROM head WHERE age > 56",
    )


def test_coco_keeps_image_paths():
    first, second = (normalize("coco-en", r) for r in rows("coco.jsonl"))
    path = "/data/coco/val2014/COCO_val2014_000000000042.jpg"
    assert first == {
        "messages": [
            {"role": "user", "content": f"<img>{path}</img>please describe the image"},
            {"role": "assistant", "content": "A dog sleeping on a red couch."},
        ],
        "images": [path],
    }
    assert second["images"] == ["https://example.org/images/bike.jpg"]
    assert last_exchange(second)[1] == "A bicycle leaning against a brick wall."
    assert SPECS["coco-en"].train == ["coco_2014_caption:train"]
    assert SPECS["coco-en"].validation == ["coco_2014_caption:validation"]
    assert SPECS["coco-en"].task == "multimodal"


# --------------------------------------------------------------------------------------------------
# broken rows are reported with a reason, not crashed on


@pytest.mark.parametrize(
    ("name", "row", "reason"),
    [
        ("alpaca-en", {"instruction": "x", "input": "", "output": None}, "missing field"),
        ("finance-en", {"instruction": None, "input": "", "output": "a"}, "missing field"),
        ("gpt4all-en", {"prompt": "no alpaca columns"}, "unknown format"),
        ("instruct-en", {"prompt": None, "completion": "a"}, "missing field"),
        ("instruct-en", {"prompt": "q", "completion": ""}, "empty response"),
        ("sharegpt-en", {"conversation": "not a list ["}, "unparseable conversation"),
        ("sharegpt-en", {"other": 1}, "missing field"),
        (
            "leetcode-python-en",
            {"code_with_problem": "no fence here", "explanation_only": "e"},
            "malformed field",
        ),
        (
            "leetcode-python-en",
            {"code_with_problem": "p\n```python\na\n```\n```python\nb\n```", "explanation_only": "e"},
            "malformed field",
        ),
        ("leetcode-python-en", {"code_with_problem": "p ```python\nx\n```"}, "missing field"),
        ("medical-en", {"input": "q", "output": None}, "missing field"),
        ("sql-create-context-en", {"question": "q", "context": "c", "answer": None}, "missing field"),
        ("coco-en", {"image": None, "caption": "c"}, "missing field"),
        ("coco-en", {"image": 7, "caption": "c"}, "wrong type"),
        ("coco-en", {"image": {"path": "a.jpg"}, "caption": "&&only alternatives"}, "empty response"),
    ],
)
def test_bad_rows_raise_with_reason(name, row, reason):
    with pytest.raises(BadRow) as info:
        normalize(name, row)
    assert info.value.reason == reason


def test_coco_accepts_decoded_images_that_know_their_file():
    class Image:  # stands in for a PIL image opened from a file
        filename = "/data/coco/a.jpg"

    assert normalize("coco-en", {"image": Image(), "caption": "c"})["images"] == ["/data/coco/a.jpg"]


def test_leetcode_fence_constant():
    assert p.LEETCODE_FENCE == "`" * 3 + "python"


# --------------------------------------------------------------------------------------------------
# start-up rule and the real CLI


def test_entry_module_imports_nothing_heavy():
    code = (
        "import sys, ftcore_datasets_en, ftcore_datasets_en.preprocess; "
        "print(sorted(m for m in ('torch', 'datasets', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_catalog_has_the_pack_without_errors():
    from ftcore.registry import get_catalog, reset

    reset()
    catalog = get_catalog()
    assert [e for e in catalog.errors if "ftcore-datasets-en" in e] == []
    for name in SEED_EN:
        assert catalog.datasets.get(name).plugin.startswith("ftcore-datasets-en ")


def test_cli_lists_the_pack():
    out = subprocess.run(
        [sys.executable, "-m", "ftcore", "datasets", "--json"], capture_output=True, text=True, check=True
    ).stdout
    listed = {d["name"]: d for d in json.loads(out)}
    for name in SEED_EN:
        entry = listed[name]
        assert entry["plugin"].split(" ")[0] == "ftcore-datasets-en"
        assert entry["hub"] == SPECS[name].hub and entry["hub"]["modelscope"]
        assert entry["task"] == SPECS[name].task
        assert entry["languages"] == SPECS[name].languages
        assert entry["preprocess"].startswith("ftcore_datasets_en.preprocess.")


def test_cli_show_csv_file(tmp_path):
    raw = tmp_path / "instruct.csv"
    raw.write_text("prompt,completion\nSay hi.,Hi!\n,orphan completion\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ftcore", "datasets", "show", "instruct-en", "--file", str(raw)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"plugin": "ftcore-datasets-en 0.1.0"' in proc.stdout
    assert '"content": "Say hi."' in proc.stdout and '"content": "Hi!"' in proc.stdout
    assert "--- row 2\n" in proc.stdout and "--- row 3" not in proc.stdout  # rows count from 1


def test_readme_and_docs_table_every_dataset():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    docs = (Path(__file__).parents[3] / "docs" / "datasets.md").read_text(encoding="utf-8")
    for name in SEED_EN:
        assert f"| `{name}` | en |" in readme, name
        assert f"| `{name}` | en |" in docs, name


@pytest.mark.parametrize("template_name", ["chatml", "default-generation"])
def test_fixture_rows_encode_with_a_template(template_name):
    """What the pack produces is what the templates consume: every kept fixture row encodes, with loss on the
    response (the real Qwen2.5 tokenizer; no model needed)."""
    from ftcore.templates import get_template
    from ftcore.testing import qwen25_tokenizer

    template = get_template(template_name, qwen25_tokenizer())
    for name, (fixture, _) in CASES.items():
        for row in rows(fixture):
            out = normalize(name, row)
            if out is None:
                continue
            if template_name == "default-generation" and len(out["messages"]) > 2:
                continue  # a single-turn template (SkipSample "multi-turn not supported")
            encoded = template.encode(out["messages"], out["images"] or None)
            assert len(encoded["input_ids"]) == len(encoded["labels"]), name
            assert any(label != -100 for label in encoded["labels"]), name


def test_get_dataset_from_a_prefilled_modelscope_cache(tmp_path, monkeypatch):
    """The pack's specs resolve through the core's loader: two "subset:split" entries concatenated, image
    structs kept as paths. The ModelScope cache is pre-filled with fixture rows (no network: downloads off)."""
    import ftcore

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    monkeypatch.setenv("FTCORE_OFFLINE", "1")
    sharegpt = tmp_path / "datasets" / "huangjintao" / "sharegpt"
    first, second = rows("sharegpt.jsonl")
    for subset, row in (("common-en", first), ("computer-en", second), ("common-zh", first)):
        (sharegpt / subset).mkdir(parents=True)
        (sharegpt / subset / "train.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    coco = tmp_path / "datasets" / "modelscope" / "coco_2014_caption" / "coco_2014_caption"
    coco.mkdir(parents=True)
    image_row = rows("coco.jsonl")[0]
    for split in ("train", "validation"):
        (coco / f"{split}.jsonl").write_text(json.dumps(image_row) + "\n", encoding="utf-8")

    train, val = ftcore.get_dataset(["sharegpt-en", "coco-en"], test_ratio=0.0)
    assert len(train) == 3 and len(val) == 1  # 2 sharegpt subsets + coco train / coco validation
    assert [len(r["messages"]) for r in train] == [2, 4, 2]
    path = image_row["image"]["path"]
    assert train[2]["images"] == [path] == val[0]["images"]
    assert train[2]["messages"][0]["content"] == f"<img>{path}</img>please describe the image"

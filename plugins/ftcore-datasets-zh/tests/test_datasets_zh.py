"""Every Chinese ms-swift dataset is registered, and its preprocessing turns rows of its raw shape into valid messages.

The fixtures under fixtures/ are small hand-written rows in each dataset's raw shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ftcore_datasets_zh import preprocess as p
from ftcore_datasets_zh import specs

from ftcore.data.formats import BadRow, check_normalized
from ftcore.data.rows import message_problem

FIXTURES = Path(__file__).parent / "fixtures"

#: ms-swift's Chinese datasets (issue #9 item 5); ms-swift spelled sharegpt-zh 'sharegpt_zh'
SEED_ZH = [
    "alpaca-zh", "instinwild-zh", "cot-zh", "firefly-all-zh", "sharegpt-zh", "damo-agent-zh",
    "damo-agent-mini-zh", "code-python-zh", "medical-zh", "medical-mini-zh", "lawyer-llama-zh",
    "tigerbot-law-zh", "blossom-math-zh", "school-math-zh", "advertise-gen-zh", "dureader-robust-zh",
    "cmnli-zh", "jd-sentiment-zh", "poetry-zh", "cls-fudan-news-zh", "ner-jave-zh",
]  # fmt: skip

#: dataset -> (fixture in its raw shape, rows kept after ms-swift's row filters)
CASES = {
    "alpaca-zh": ("alpaca_zh.jsonl", 4),
    "instinwild-zh": ("alpaca.jsonl", 3),
    "cot-zh": ("alpaca.jsonl", 3),
    "school-math-zh": ("alpaca.jsonl", 3),
    "firefly-all-zh": ("firefly.jsonl", 3),
    "sharegpt-zh": ("sharegpt.jsonl", 2),
    "damo-agent-zh": ("damo_agent.jsonl", 2),
    "damo-agent-mini-zh": ("damo_agent.jsonl", 1),
    "code-python-zh": ("code_python.jsonl", 2),
    "medical-zh": ("medical_zh.jsonl", 2),
    "medical-mini-zh": ("medical_zh.jsonl", 2),
    "lawyer-llama-zh": ("lawyer_llama.jsonl", 2),
    "tigerbot-law-zh": ("tigerbot_law.jsonl", 2),
    "blossom-math-zh": ("blossom_math.jsonl", 2),
    "advertise-gen-zh": ("advertise_gen.jsonl", 2),
    "dureader-robust-zh": ("dureader.jsonl", 2),
    "cmnli-zh": ("cmnli.jsonl", 3),
    "jd-sentiment-zh": ("jd.jsonl", 2),
    "poetry-zh": ("poetry.jsonl", 2),
    "cls-fudan-news-zh": ("cls_fudan_news.jsonl", 2),
    "ner-jave-zh": ("ner_jave.jsonl", 2),
}

SPECS = {s.name: s for s in specs()}


def rows(fixture: str) -> list[dict]:
    with open(FIXTURES / fixture, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def normalize(name: str, row: dict) -> dict | None:
    return SPECS[name].preprocess(row)


def assert_valid(out: dict) -> None:
    assert set(out) == {"messages", "images"}
    assert message_problem(out["messages"]) is None, out["messages"]
    assert all(isinstance(i, str) and i for i in out["images"])
    check_normalized(out)  # the data pipeline's own check of what a preprocess function returns


def test_pack_registers_every_seed_dataset():
    assert sorted(SPECS) == sorted(SEED_ZH)
    assert sorted(CASES) == sorted(SEED_ZH), "every dataset needs a fixture case"


@pytest.mark.parametrize("name", SEED_ZH)
def test_spec_is_complete(name):
    spec = SPECS[name]
    assert spec.problems() == []
    assert spec.hub.get("modelscope"), "every ms-swift dataset lives on ModelScope"
    assert set(spec.hub) <= {"modelscope", "huggingface"}
    assert spec.languages == ["zh"]
    assert spec.task in ("chat", "text-generation", "classification", "ner", "agent")
    assert callable(spec.preprocess)
    assert spec.description
    for split in [*spec.train, *spec.validation]:
        assert split and split.count(":") <= 1 and all(split.split(":")), split


@pytest.mark.parametrize("name", SEED_ZH)
def test_preprocess_fixture_rows(name):
    fixture, kept = CASES[name]
    outs = [normalize(name, row) for row in rows(fixture)]
    kept_rows = [o for o in outs if o is not None]
    assert len(kept_rows) == kept
    for out in kept_rows:
        assert_valid(out)


def last_exchange(out: dict) -> tuple[str, str]:
    user, assistant = out["messages"][-2:]
    assert (user["role"], assistant["role"]) == ("user", "assistant")
    return user["content"], assistant["content"]


# --------------------------------------------------------------------------------------------------
# exact wording


def test_alpaca_zh_concat_rule():
    out = [normalize("alpaca-zh", r) for r in rows("alpaca_zh.jsonl")]
    assert last_exchange(out[0]) == ("把下面的句子翻译成英文。\n今天天气很好。", "The weather is nice today.")
    assert last_exchange(out[1])[0] == "写一句关于春天的话。"  # empty input: instruction only
    assert last_exchange(out[2])[0] == "列出三种水果。"  # None input
    assert last_exchange(out[3])[0] == "总结这段话。\n小明每天早上跑步，坚持了三年。"


def test_smart_alpaca_joins_instruction_and_input():
    out = normalize("school-math-zh", rows("alpaca.jsonl")[1])
    assert out["messages"] == [
        {"role": "user", "content": "计算下列算式。\n12 × 3 + 4"},
        {"role": "assistant", "content": "12 × 3 = 36，36 + 4 = 40。答案是 40。"},
    ]


def test_smart_alpaca_accepts_query_response_rows():
    out = normalize("cot-zh", {"query": "问", "response": "答"})
    assert last_exchange(out) == ("问", "答")


def test_firefly_keeps_listed_kinds_only():
    assert len(p.FIREFLY_KINDS) == 24
    first, *_, unlisted = rows("firefly.jsonl")
    assert last_exchange(normalize("firefly-all-zh", first)) == ("对下联：春风送暖入屋来", "瑞雪迎春进门来")
    assert normalize("firefly-all-zh", unlisted) is None


def test_sharegpt_rounds_become_history():
    out = normalize("sharegpt-zh", rows("sharegpt.jsonl")[1])
    assert [m["role"] for m in out["messages"]] == ["user", "assistant"] * 3
    assert out["messages"][0]["content"] == "推荐一本书。"
    assert last_exchange(out) == ("还有别的作品吗？", "还有《许三观卖血记》。")


def test_code_python_roles():
    first, second = (normalize("code-python-zh", r) for r in rows("code_python.jsonl"))
    assert first["messages"][0] == {"role": "system", "content": "你是一个Python编程助手。"}
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user", "assistant"]


def test_agent_keeps_system_prompt_and_tool_calls():
    row = rows("damo_agent.jsonl")[0]
    out = normalize("damo-agent-zh", row)
    assert out == normalize("damo-agent-mini-zh", row)
    system, user, assistant = out["messages"]
    assert system["role"] == "system" and '"plugin_name": "weather_query"' in system["content"]
    assert user == {"role": "user", "content": "杭州今天天气怎么样？"}
    assert assistant["role"] == "assistant"
    assert "<|startofthink|>" in assistant["content"] and "<|startofexec|>" in assistant["content"]


def test_agent_full_and_mini_filters():
    plugin_name, name_keys, one_tool, no_user = rows("damo_agent.jsonl")
    assert normalize("damo-agent-zh", name_keys) is not None  # full: "name" keys count
    assert normalize("damo-agent-mini-zh", name_keys) is None  # mini: only "plugin_name"
    for row in (one_tool, no_user):  # ≤ 1 distinct tool; no user turn
        assert normalize("damo-agent-zh", row) is None
        assert normalize("damo-agent-mini-zh", row) is None
    assert len(normalize("damo-agent-zh", name_keys)["messages"]) == 5


def test_agent_single_turn_rows_are_dropped():
    cell = repr(
        [{"from": "system", "value": '1. {"plugin_name": "a"}\n2. {"plugin_name": "b"} \'from\': \'user\''}]
    )
    assert normalize("damo-agent-zh", {"conversations": cell}) is None


def test_agent_tool_role_turns_become_tool_messages():
    turns = [
        {"from": "system", "value": '1. {"plugin_name": "a"}\n2. {"plugin_name": "b"}'},
        {"from": "user", "value": "q"},
        {"from": "assistant", "value": "calling a"},
        {"from": "tool", "value": "result of a"},
        {"from": "assistant", "value": "done"},
    ]
    out = normalize("damo-agent-zh", {"conversations": turns})  # already a list: matched on its repr
    assert [m["role"] for m in out["messages"]] == ["system", "user", "assistant", "tool", "assistant"]


def test_lawyer_llama_discards_history():
    out = normalize("lawyer-llama-zh", rows("lawyer_llama.jsonl")[1])
    assert out["messages"] == [
        {"role": "user", "content": "那需要准备哪些证据？"},
        {"role": "assistant", "content": "租赁合同、付款凭证和房屋交接记录。"},
    ]


def test_tigerbot_law_is_response_only():
    first, second = (normalize("tigerbot-law-zh", r) for r in rows("tigerbot_law.jsonl"))
    assert last_exchange(first) == ("", "宪法\n示例宪法\n第一章 总纲第一条 这是一个示例条文。")
    assert (
        last_exchange(second)[1]
        == "民法\n示例民法\n第一编 总则第一章 基本规定第一节 一般规定第一条 示例内容。"
    )
    assert SPECS["tigerbot-law-zh"].task == "text-generation"


def test_blossom_math_appends_answer():
    first, second = (normalize("blossom-math-zh", r) for r in rows("blossom_math.jsonl"))
    assert last_exchange(first) == (
        "一个苹果3元，买4个要多少钱？",
        "每个3元，4个就是3×4=12元。\n\nAnswer: 12",
    )
    assert last_exchange(second)[1].endswith("\n\nAnswer: 3")


def test_advertise_gen_prompt():
    out = normalize("advertise-gen-zh", rows("advertise_gen.jsonl")[0])
    assert last_exchange(out) == (
        "Task: Generating advertisements based on keywords.\nKeywords: 类型#上衣*颜色#白色*风格#简约\nAdvertisements: ",
        "这款白色上衣设计简约，百搭又舒适。",
    )


def test_dureader_prompt():
    out = normalize("dureader-robust-zh", rows("dureader.jsonl")[0])
    assert last_exchange(out) == (
        "Task: Question Generation\nContext: 中国的首都是北京，它是全国的政治中心。\nAnswer: 北京\nQuestion: ",
        "中国的首都是哪里？",
    )


def test_cmnli_prompt_and_labels():
    outs = [normalize("cmnli-zh", r) for r in rows("cmnli.jsonl")]
    assert last_exchange(outs[0]) == (
        "Task: Natural Language Inference\nSentence1: 他正在公园里跑步。\nSentence2: 他在户外运动。\n"
        "Category: neutral, entailment, contradiction\nOutput: ",
        "entailment",
    )
    assert [last_exchange(o)[1] for o in outs] == ["entailment", "contradiction", "neutral"]


def test_jd_sentiment_prompt_and_labels():
    outs = [normalize("jd-sentiment-zh", r) for r in rows("jd.jsonl")]
    assert last_exchange(outs[0]) == (
        "Task: Sentiment Classification\nSentence: 物流很快，质量也不错，好评！\nCategory: negative, positive\nOutput: ",
        "positive",
    )
    assert last_exchange(outs[1])[1] == "negative"


def test_poetry_is_response_only():
    assert last_exchange(normalize("poetry-zh", rows("poetry.jsonl")[0])) == ("", "春眠不觉晓，处处闻啼鸟。")


@pytest.mark.parametrize(
    ("name", "fixture"), [("cls-fudan-news-zh", "cls_fudan_news.jsonl"), ("ner-jave-zh", "ner_jave.jsonl")]
)
def test_prompt_answer_sets(name, fixture):
    raw = rows(fixture)[0]
    assert last_exchange(normalize(name, raw)) == (raw["prompt"], raw["answer"])


def test_medical_mini_samples_100000():
    assert SPECS["medical-mini-zh"].sample == 100000
    assert SPECS["medical-zh"].sample is None
    assert SPECS["medical-mini-zh"].train == ["zh:train", "zh:val"] == SPECS["medical-zh"].train
    assert SPECS["medical-mini-zh"].validation == ["zh:test"]


# --------------------------------------------------------------------------------------------------
# broken rows are reported with a reason, not crashed on


@pytest.mark.parametrize(
    ("name", "row", "reason"),
    [
        ("alpaca-zh", {"instruction": "x", "input": "", "output": None}, "missing field"),
        ("instinwild-zh", {"instruction": "x", "input": "", "output": "  "}, "empty response"),
        ("instinwild-zh", {"text": "no known columns"}, "unknown format"),
        ("firefly-all-zh", {"kind": "NER", "input": "x", "target": None}, "missing field"),
        ("sharegpt-zh", {"conversation": "[{'human': 'x'"}, "unparseable conversation"),
        ("sharegpt-zh", {"conversation": "[{'human': 'x'}]"}, "unparseable conversation"),
        ("sharegpt-zh", {"conversation": None}, "missing field"),
        ("code-python-zh", {"chat_rounds": [{"role": "human", "content": "q"}]}, "unparseable conversation"),
        (
            "code-python-zh",
            {
                "chat_rounds": [
                    {"role": "human", "content": "q"},
                    {"role": "human", "content": "q"},
                    {"role": "bot", "content": "a"},
                ]
            },
            "unparseable conversation",
        ),
        ("code-python-zh", {"chat_rounds": [{"role": "alien", "content": "q"}]}, "unparseable conversation"),
        ("medical-zh", {"instruction": None, "output": "a"}, "missing field"),
        ("lawyer-llama-zh", {"instruction": "q", "output": ["a"]}, "wrong type"),
        (
            "tigerbot-law-zh",
            {"type": "t", "title": "x", "chapter1": None, "chapter2": None, "chapter3": None},
            "missing field",
        ),
        ("blossom-math-zh", {"input": "q", "output": "o"}, "missing field"),
        ("advertise-gen-zh", {"content": "k", "summary": ""}, "empty response"),
        ("dureader-robust-zh", {"text1": "a[SEP]b[SEP]c", "text2": "q"}, "malformed field"),
        ("dureader-robust-zh", {"text1": "no separator", "text2": "q"}, "malformed field"),
        ("cmnli-zh", {"sentence1": "a", "sentence2": "b", "label": None}, "missing field"),
        ("cmnli-zh", {"sentence1": "a", "sentence2": "b", "label": -1}, "unknown label"),
        ("jd-sentiment-zh", {"sentence": "a", "label": 2}, "unknown label"),
        ("jd-sentiment-zh", {"sentence": "a", "label": "good"}, "wrong type"),
        ("poetry-zh", {"title": "no text"}, "missing field"),
        ("ner-jave-zh", {"prompt": "p"}, "missing field"),
        ("damo-agent-zh", {"conversations": None}, "missing field"),
    ],
)
def test_bad_rows_raise_with_reason(name, row, reason):
    with pytest.raises(BadRow) as info:
        normalize(name, row)
    assert info.value.reason == reason


# --------------------------------------------------------------------------------------------------
# start-up rule and the real CLI


def test_entry_module_imports_nothing_heavy():
    code = (
        "import sys, ftcore_datasets_zh, ftcore_datasets_zh.preprocess; "
        "print(sorted(m for m in ('torch', 'datasets', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_catalog_has_the_pack_without_errors():
    from ftcore.registry import get_catalog, reset

    reset()
    catalog = get_catalog()
    assert [e for e in catalog.errors if "ftcore-datasets-zh" in e] == []
    for name in SEED_ZH:
        assert catalog.datasets.get(name).plugin.startswith("ftcore-datasets-zh ")


def test_cli_lists_the_pack():
    out = subprocess.run(
        [sys.executable, "-m", "ftcore", "datasets", "--json"], capture_output=True, text=True, check=True
    ).stdout
    listed = {d["name"]: d for d in json.loads(out)}
    for name in SEED_ZH:
        entry = listed[name]
        assert entry["plugin"].split(" ")[0] == "ftcore-datasets-zh"
        assert entry["hub"] == SPECS[name].hub and entry["hub"]["modelscope"]
        assert entry["task"] == SPECS[name].task
        assert entry["languages"] == ["zh"]
        assert entry["preprocess"].startswith("ftcore_datasets_zh.preprocess.")


def ftcore_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftcore", *argv], capture_output=True, text=True)


def test_cli_show_prints_spec_and_normalized_rows(tmp_path):
    raw = tmp_path / "firefly.jsonl"
    raw.write_text(
        (FIXTURES / "firefly.jsonl").read_text(encoding="utf-8").splitlines()[-1]  # an unlisted kind
        + "\n"
        + json.dumps({"kind": "NER", "input": "x", "target": None})
        + "\n"
        + (FIXTURES / "firefly.jsonl").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    proc = ftcore_cli("datasets", "show", "firefly-all-zh", "--file", str(raw), "--rows", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert '"name": "firefly-all-zh"' in out and '"wyj123456/firefly"' in out
    assert '"firefly-train-1.1M.jsonl"' in out
    assert "--- row 1\ndropped by preprocess" in out
    assert "--- row 2\nbad row: missing field: target" in out
    assert '"content": "对下联：春风送暖入屋来"' in out and "--- row 4" not in out


def test_cli_show_unknown_dataset_is_one_line_error():
    proc = ftcore_cli("datasets", "show", "alpaca-zhh")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown dataset 'alpaca-zhh' (did you mean alpaca-zh")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_readme_and_docs_table_every_dataset():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    docs = (Path(__file__).parents[3] / "docs" / "datasets.md").read_text(encoding="utf-8")
    for name in SEED_ZH:
        assert f"| `{name}` | zh |" in readme, name
        assert f"| `{name}` | zh |" in docs, name


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
    """The pack's specs resolve through the core's loader: hub ids, "subset:split" entries, preprocessing.

    The ModelScope cache is pre-filled with fixture rows (no network: downloads are off)."""
    import ftcore

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    monkeypatch.setenv("FTCORE_OFFLINE", "1")
    clue = tmp_path / "datasets" / "modelscope" / "clue" / "cmnli"
    clue.mkdir(parents=True)
    cmnli = rows("cmnli.jsonl")
    for split, part in (
        ("train", cmnli[:2]),
        ("validation", cmnli[2:]),
        ("test", [{**cmnli[0], "label": -1}]),
    ):
        (clue / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    train, val = ftcore.get_dataset(["cmnli-zh"], test_ratio=0.0)
    assert len(train) == 3  # cmnli:train + cmnli:validation; cmnli:test (unlabelled in CLUE) is not read
    assert [last_exchange(r)[1] for r in train] == ["entailment", "contradiction", "neutral"]
    assert train[0]["messages"][0]["content"].startswith("Task: Natural Language Inference\nSentence1: ")
    assert val is None or len(val) == 0
    train, val = ftcore.get_dataset(["cmnli-zh"], test_ratio=0.3)
    assert len(val) >= 1 and len(train) + len(val) == 3  # no validation split: split off by the ratio

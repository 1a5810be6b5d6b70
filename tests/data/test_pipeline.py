"""prepare_data / get_dataset: column mapping, bad-row report, strict, mixing, splits, sample, cache, modes."""

from __future__ import annotations

import pytest

from ftcore.data.collate import DataCollator
from ftcore.data.pipeline import get_dataset, prepare_data
from ftcore.errors import FtcoreError
from ftcore.specs import DatasetSpec


def qr(n: int, prefix: str = "q") -> list[dict]:
    return [{"query": f"{prefix}{i}", "response": f"answer {i}"} for i in range(n)]


def test_column_mapping_from_run_toml(tmp_path, make_cfg, fake_template):
    (tmp_path / "faq.csv").write_text("question,answer,notes\nhow?,like this,x\nwhy?,because,y\n")
    cfg = make_cfg(datasets=[{"path": "./faq.csv", "columns": {"question": "query", "answer": "response"}}])
    out = prepare_data(cfg, fake_template())
    assert len(out.train) == 2
    assert out.train[0]["input_ids"][: len("how?")] == [1 + ord(c) % 200 for c in "how?"]


def test_column_mapping_naming_a_missing_column(tmp_path, make_cfg, fake_template):
    (tmp_path / "faq.csv").write_text("question,answer\nhow?,like this\n")
    cfg = make_cfg(datasets=[{"path": "faq.csv", "columns": {"questoin": "query", "answer": "response"}}])
    with pytest.raises(FtcoreError, match=r"faq.csv: column 'questoin' .*not found \(the columns are: question, answer\)"):
        prepare_data(cfg, fake_template())


def test_bad_rows_are_counted_by_reason_with_rows_and_file(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "mixed.jsonl", [
        *qr(5),
        {"query": "no answer"},                                     # row 6: missing field
        {"query": "blank", "response": "  "},                      # row 7: empty response
        {"query": "list", "response": ["x"]},                      # row 8: wrong type
        {"query": "h", "response": "r", "history": "[[oops"},      # row 9: unparseable conversation
        {"query": "long " * 30, "response": "r"},                  # row 10: too long (template)
        "{broken json",                                             # row 11
    ])
    out = prepare_data(make_cfg(datasets=["mixed.jsonl"]), fake_template(max_length=40))
    assert len(out.train) == 5
    src = out.report.sources[0]
    assert src.name == "mixed.jsonl" and src.rows == 11
    assert out.report.by_reason() == {"missing field": 1, "empty response": 1, "wrong type": 1,
                                      "unparseable conversation": 1, "too long": 1, "unparseable row": 1}
    assert src.examples["too long"] == [10] and src.examples["missing field"] == [6]
    line = out.report.lines()[0]
    assert line.startswith("mixed.jsonl: 6 of 11 rows skipped") and "too long: 1 (row 10)" in line


def test_strict_turns_a_bad_row_into_an_error(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "d.jsonl", [*qr(3), {"query": "x", "response": ""}])
    with pytest.raises(FtcoreError, match=r"data: d.jsonl row 4: empty response .*data.strict = false"):
        prepare_data(make_cfg(datasets=["d.jsonl"], strict=True), fake_template())
    jsonl(tmp_path / "e.jsonl", [*qr(3), {"query": "long " * 30, "response": "r"}])
    with pytest.raises(FtcoreError, match=r"e.jsonl row 4: too long"):
        prepare_data(make_cfg(datasets=["e.jsonl"], strict=True), fake_template(max_length=40))


def test_zero_usable_rows_names_the_file(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "good.jsonl", qr(3))
    jsonl(tmp_path / "wrong.jsonl", [{"text": "a"}, {"text": "b"}])
    with pytest.raises(FtcoreError, match=r"data: wrong.jsonl: no usable rows \(2 rows; unknown format: 2"):
        prepare_data(make_cfg(datasets=["good.jsonl", "wrong.jsonl"]), fake_template())


def test_mixing_split_and_sample_are_seeded(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", qr(60, "a"))
    jsonl(tmp_path / "b.jsonl", qr(40, "b"))

    def run(**kw):
        out = prepare_data(make_cfg(datasets=["a.jsonl", "b.jsonl"], **kw), fake_template())
        return [tuple(r["input_ids"]) for r in out.train], [tuple(r["input_ids"]) for r in out.validation or []]

    train, val = run(test_ratio=0.1, seed=1)
    assert (len(train), len(val)) == (90, 10)  # 6 from a, 4 from b
    assert not set(train) & set(val)
    assert run(test_ratio=0.1, seed=1) == (train, val)
    assert run(test_ratio=0.1, seed=2)[1] != val
    sampled, sval = run(test_ratio=0.1, seed=1, sample=20)
    assert len(sampled) == 20 and set(sampled) <= set(train)
    assert len(sval) == 2  # ms-swift's rule: max(int(20 * 0.1), 1)


def test_own_validation_split_and_explicit_validation(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "d" / "train.jsonl", qr(8))
    jsonl(tmp_path / "d" / "validation.jsonl", qr(3, "v"))
    out = prepare_data(make_cfg(datasets=["./d"], test_ratio=0.5), fake_template())
    assert (len(out.train), len(out.validation)) == (8, 3)
    jsonl(tmp_path / "held.jsonl", qr(2, "h"))
    out = prepare_data(make_cfg(datasets=["./d"], validation=["held.jsonl"], test_ratio=0.5), fake_template())
    assert (len(out.train), len(out.validation)) == (8, 2)


def test_registered_dataset_with_preprocess(tmp_path, jsonl, make_cfg, fake_template, monkeypatch):
    from ftcore import registry

    path = jsonl(tmp_path / "raw.jsonl", [{"prompt": "p1", "completion": "c1"}, {"prompt": "skip", "completion": "c"},
                                          {"prompt": "p3", "completion": "c3"}])

    def pre(row):
        if row["prompt"] == "skip":
            return None
        return {"messages": [{"role": "user", "content": row["prompt"]},
                             {"role": "assistant", "content": row["completion"]}]}

    catalog = registry.Catalog()
    catalog.add("dataset", DatasetSpec(name="demo-raw", path=str(path), preprocess=pre), "tests 0")
    monkeypatch.setattr(registry, "get_catalog", lambda: catalog)
    out = prepare_data(make_cfg(datasets=["demo-raw"]), fake_template())
    assert len(out.train) == 2
    assert out.report.by_reason() == {"dropped by preprocess": 1}


def test_second_run_uses_the_cache(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", qr(30))
    cfg = make_cfg(datasets=["a.jsonl"], test_ratio=0.1)
    first = prepare_data(cfg, fake_template())
    assert fake_template.calls == 30 and not first.cache_hit
    fake_template.calls = 0
    second = prepare_data(cfg, fake_template())
    assert fake_template.calls == 0 and second.cache_hit
    assert second.train["input_ids"] == first.train["input_ids"]
    assert second.fingerprints["data"] == first.fingerprints["data"]
    assert second.report.lines() == first.report.lines()
    # another template setting, or changed data, is another cache entry
    prepare_data(cfg, fake_template(max_length=50))
    assert fake_template.calls == 30
    fake_template.calls = 0
    jsonl(tmp_path / "a.jsonl", qr(31))
    prepare_data(cfg, fake_template())
    assert fake_template.calls == 31


def test_cache_dir_setting(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", qr(3))
    out = prepare_data(make_cfg(datasets=["a.jsonl"], cache_dir="./tok-cache"), fake_template())
    assert out.cache_dir and out.cache_dir.startswith(str(tmp_path / "tok-cache"))


def _first_batches(ds, n_batches=2, size=4):
    collate = DataCollator(pad_token_id=0)
    rows = iter(ds)
    out = []
    for _ in range(n_batches):
        batch = collate([next(rows) for _ in range(size)])
        out.append({k: v.tolist() for k, v in batch.items()})
    return out


def test_lazy_and_streaming_give_the_same_first_batches(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", [{"query": "x" * (i % 7), "response": f"answer {i}"} for i in range(40)])
    eager = prepare_data(make_cfg(datasets=["a.jsonl"]), fake_template())
    lazy = prepare_data(make_cfg(datasets=["a.jsonl"], lazy=True), fake_template())
    cfg = make_cfg(datasets=["a.jsonl"], streaming=True)
    stream = prepare_data(cfg, fake_template())
    assert len(lazy.train) == len(eager.train) == 40
    assert _first_batches(lazy.train) == _first_batches(eager.train) == _first_batches(stream.train)


def test_streaming_skips_bad_rows_and_holds_out_validation(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", [*qr(3), {"query": "bad"}, *qr(20, "z")])
    cfg = make_cfg(datasets=["a.jsonl"], streaming=True, test_ratio=0.1, sample=20)
    out = prepare_data(cfg, fake_template())
    rows = list(out.train)
    assert len(out.validation) == 2 and len(rows) == 20
    assert out.report.by_reason() == {"missing field": 1}


def test_lazy_replaces_a_skipped_sample_and_counts_it(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", [*qr(2), {"query": "long " * 30, "response": "r"}, *qr(2, "z")])
    out = prepare_data(make_cfg(datasets=["a.jsonl"], lazy=True), fake_template(max_length=40))
    assert out.train[2] == out.train[3]
    assert out.report.by_reason() == {"too long": 1}


def test_get_dataset_public_api(tmp_path, jsonl):
    path = jsonl(tmp_path / "a.jsonl", qr(50))
    train, val = get_dataset([str(path)], test_ratio=0.1, seed=3)
    assert (len(train), len(val)) == (45, 5)
    assert train.column_names == ["messages", "images"]
    assert train[0]["messages"][0]["role"] == "user"
    train2, _ = get_dataset(str(path), test_ratio=0.0, sample=10)
    assert len(train2) == 10


def test_real_template_with_the_qwen_tokenizer(tmp_path, jsonl, make_cfg):
    from ftcore.templates import get_template
    from ftcore.testing import qwen25_tokenizer

    tok = qwen25_tokenizer()
    template = get_template("chatml", tok, max_length=64)
    jsonl(tmp_path / "a.jsonl", [*qr(4), {"query": "word " * 100, "response": "x"}])
    out = prepare_data(make_cfg(datasets=["a.jsonl"]), template, tok)
    assert len(out.train) == 5  # left truncation keeps the over-long sample
    row = out.train[0]
    labelled = [t for t in row["labels"] if t != -100]
    assert tok.decode(labelled).startswith("answer 0")
    again = prepare_data(make_cfg(datasets=["a.jsonl"]), get_template("chatml", tok, max_length=64), tok)
    assert again.cache_hit


def test_num_proc_gives_the_same_result(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", [*qr(600), {"query": "bad"}])
    one = prepare_data(make_cfg(datasets=["a.jsonl"], cache_dir="c1"), fake_template())
    two = prepare_data(make_cfg(datasets=["a.jsonl"], cache_dir="c2", num_proc=2), fake_template())
    assert two.train["input_ids"] == one.train["input_ids"]
    assert two.report.lines() == one.report.lines()


def test_public_name_from_the_package(tmp_path, jsonl):
    import ftcore

    path = jsonl(tmp_path / "a.jsonl", qr(3))
    train, val = ftcore.get_dataset(str(path), test_ratio=0)
    assert len(train) == 3 and val is None


def test_sample_reads_only_the_drawn_rows(tmp_path, jsonl, make_cfg, fake_template):
    rows = qr(500)
    rows[7] = {"query": "bad"}
    jsonl(tmp_path / "big.jsonl", rows)
    out = prepare_data(make_cfg(datasets=["big.jsonl"], sample=50), fake_template())
    assert len(out.train) == 50
    src = out.report.sources[0]
    assert src.rows < 200  # 50 + a margin were read, not 500
    if src.bad:  # row numbers are the file's, even for a drawn subset
        assert src.examples["missing field"] == [8]


def test_row_numbers_survive_a_per_dataset_sample(tmp_path, jsonl, make_cfg, fake_template):
    rows = qr(100)
    for k in range(0, 100, 10):
        rows[k] = {"query": "bad"}
    jsonl(tmp_path / "a.jsonl", rows)
    out = prepare_data(make_cfg(datasets=[{"path": "a.jsonl", "sample": 40}]), fake_template())
    src = out.report.sources[0]
    assert src.rows == 40
    assert all(r % 10 == 1 for r in src.examples["missing field"])


def test_cache_entry_leaves_no_work_files(tmp_path, jsonl, make_cfg, fake_template):
    jsonl(tmp_path / "a.jsonl", qr(20))
    out = prepare_data(make_cfg(datasets=["a.jsonl"], cache_dir="cc", test_ratio=0.1), fake_template())
    entries = sorted(p.name for p in (tmp_path / "cc").iterdir())
    assert entries == [out.fingerprints["data"]]
    assert sorted(p.name for p in (tmp_path / "cc" / entries[0]).iterdir()) == [
        "meta.json", "report.json", "train", "validation"]


def test_the_fake_template_keeps_the_template_contract(fake_template) -> None:
    from ftcore.templates import TemplateProtocol

    assert isinstance(fake_template(), TemplateProtocol)  # the data stage calls nothing else

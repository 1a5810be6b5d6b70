"""Loading raw rows: local files and folders, bundled files, get functions, hub caches (no network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ftcore.data import loading
from ftcore.data.formats import normalize_row
from ftcore.data.hub import load_spec
from ftcore.data.loading import sample_rows
from ftcore.errors import FtcoreError
from ftcore.specs import DatasetOptions, DatasetSpec

ROWS = [{"query": f"question {i}", "response": f"answer {i}"} for i in range(3)]


def local(path: Path | str, **kw) -> DatasetSpec:
    return DatasetSpec(name="local", path=str(path), **kw)


def normalized(ds) -> list[dict]:
    return [normalize_row(r)["messages"] for r in ds]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    import pandas as pd

    d = tmp_path_factory.mktemp("files")
    out = {}
    out["jsonl"] = d / "rows.jsonl"
    out["jsonl"].write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    out["json"] = d / "rows.json"
    out["json"].write_text(json.dumps(ROWS))
    out["csv"] = d / "rows.csv"
    pd.DataFrame(ROWS).to_csv(out["csv"], index=False)
    out["tsv"] = d / "rows.tsv"
    pd.DataFrame(ROWS).to_csv(out["tsv"], index=False, sep="\t")
    out["parquet"] = d / "rows.parquet"
    pd.DataFrame(ROWS).to_parquet(out["parquet"])
    return out


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_local_file_types(files, kind):
    ds = load_spec(local(files[kind]), DatasetOptions())
    assert normalized(ds) == normalized(ROWS)


def test_folder_with_train_and_validation_files(tmp_path, jsonl):
    jsonl(tmp_path / "d" / "train.jsonl", ROWS)
    jsonl(tmp_path / "d" / "validation.jsonl", ROWS[:1])
    train, val = load_spec(local(tmp_path / "d"), DatasetOptions())
    assert len(train) == 3 and len(val) == 1


def test_folder_with_one_file(tmp_path, jsonl):
    jsonl(tmp_path / "d" / "whatever.jsonl", ROWS)
    train, val = load_spec(local(tmp_path / "d"), DatasetOptions())
    assert len(train) == 3 and val is None


def test_builtin_prefix_resolves_into_bundled(tmp_path, jsonl, monkeypatch):
    jsonl(tmp_path / "bundled" / "demo.jsonl", ROWS)
    monkeypatch.setattr(loading, "BUNDLED_DIR", tmp_path / "bundled")
    assert len(load_spec(local("builtin:demo.jsonl"), DatasetOptions())) == 3
    with pytest.raises(FtcoreError, match="no such bundled file.*demo.jsonl"):
        load_spec(local("builtin:nope.jsonl"), DatasetOptions())


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(FtcoreError, match=r"missing\.jsonl: file not found"):
        load_spec(local(tmp_path / "missing.jsonl"), DatasetOptions())
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(FtcoreError, match=r"unsupported file type \.txt"):
        load_spec(local(tmp_path / "notes.txt"), DatasetOptions())


def test_json_with_mixed_column_types_is_read_row_by_row(tmp_path, jsonl):
    path = jsonl(tmp_path / "mixed.jsonl", [
        {"query": "a", "response": "b", "history": [["q", "r"]]},
        {"query": "c", "response": "d", "history": "[['q', 'r']]"},
        "{not json",
    ])
    ds = load_spec(local(path), DatasetOptions())
    assert ds.column_names == [loading.JSON_COLUMN, loading.ROW_COLUMN] and len(ds) == 3
    assert ds[loading.ROW_COLUMN] == [1, 2, 3]  # line numbers, for the report


def test_get_function_single_pair_and_rows():
    from datasets import Dataset

    one = DatasetSpec(name="g1", get=lambda spec, options: Dataset.from_list(ROWS))
    assert len(load_spec(one, DatasetOptions())) == 3
    pair = DatasetSpec(name="g2", get=lambda spec, options, n=1: (ROWS, ROWS[:n]), get_kwargs={"n": 2})
    train, val = load_spec(pair, DatasetOptions())
    assert len(train) == 3 and len(val) == 2
    bare = DatasetSpec(name="g3", get=lambda: ROWS)
    assert len(load_spec(bare, DatasetOptions(sample=2))) == 2


def test_sample_rows_is_seeded_and_keeps_order():
    from datasets import Dataset

    ds = Dataset.from_dict({"i": list(range(100))})
    a = sample_rows(ds, 10, seed=1)["i"]
    assert a == sorted(a) and len(a) == 10
    assert a == sample_rows(ds, 10, seed=1)["i"]
    assert a != sample_rows(ds, 10, seed=2)["i"]
    assert len(sample_rows(ds, 1000, seed=1)) == 100


# --------------------------------------------------------------------------------------------------
# hub caches, filled by hand: no network


def fill_hf_cache(home: Path, repo: str, files: dict[str, list[dict]], commit: str = "a" * 40) -> Path:
    """The huggingface_hub cache layout: datasets--owner--name/{refs/main, snapshots/<commit>/...}."""
    root = home / "hub" / f"datasets--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    for name, rows in files.items():
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        (snap / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return snap


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a cache miss must not reach for the network
    return tmp_path


def test_hf_hub_cache_with_subsets_and_splits(hub_env):
    fill_hf_cache(hub_env / "hf", "acme/faq", {
        "en/train.jsonl": ROWS, "en/test.jsonl": ROWS[:1], "zh/train.jsonl": ROWS[:2],
    })
    spec = DatasetSpec(name="faq", hub={"huggingface": "acme/faq"}, train=["en:train", "zh:train"],
                       validation=["en:test"])
    train, val = load_spec(spec, DatasetOptions())
    assert len(train) == 5 and len(val) == 1


def test_hf_hub_cache_plain_repo(hub_env):
    fill_hf_cache(hub_env / "hf", "acme/plain", {"data/train.jsonl": ROWS})
    train, val = load_spec(DatasetSpec(name="plain", hub={"huggingface": "acme/plain"}), DatasetOptions())
    assert len(train) == 3 and val is None


def test_modelscope_cache_layouts(hub_env):
    flat = hub_env / "ms" / "datasets" / "acme" / "faq___v2"
    flat.mkdir(parents=True)
    (flat / "train.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    spec = DatasetSpec(name="faq", hub={"modelscope": "acme/faq.v2"})
    assert len(load_spec(spec, DatasetOptions())[0]) == 3

    snap = hub_env / "ms" / "datasets" / "acme--other" / "snapshots" / "master" / "sub"
    snap.mkdir(parents=True)
    (snap / "train.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS[:2]))
    spec = DatasetSpec(name="other", hub={"modelscope": "acme/other"}, train=["sub:train"])
    assert len(load_spec(spec, DatasetOptions(hub="modelscope"))[0]) == 2


def test_auto_hub_finds_either_cache(hub_env):
    flat = hub_env / "ms" / "datasets" / "acme" / "both"
    flat.mkdir(parents=True)
    (flat / "train.jsonl").write_text(json.dumps(ROWS[0]))
    spec = DatasetSpec(name="both", hub={"huggingface": "acme/both", "modelscope": "acme/both"})
    assert len(load_spec(spec, DatasetOptions(hub="auto"))[0]) == 1


def test_offline_and_not_cached_is_one_line_error(hub_env):
    spec = DatasetSpec(name="absent", hub={"huggingface": "acme/absent", "modelscope": "acme/absent"})
    with pytest.raises(FtcoreError) as info:
        load_spec(spec, DatasetOptions())
    msg = str(info.value)
    assert "\n" not in msg and "'absent'" in msg and "not in the local cache" in msg and "HF_HUB_OFFLINE" in msg


def test_modelscope_not_installed_says_what_to_install(hub_env, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setitem(sys.modules, "modelscope", None)
    monkeypatch.setitem(sys.modules, "modelscope.msdatasets", None)
    spec = DatasetSpec(name="msonly", hub={"modelscope": "acme/msonly"})
    with pytest.raises(FtcoreError, match=r"pip install 'ftcore\[modelscope\]'"):
        load_spec(spec, DatasetOptions())


def test_builtin_hook_loads_through_the_plugin_manager(files):
    from ftcore.plugins import get_plugin_manager

    out = get_plugin_manager().hook.load_dataset(spec=local(files["jsonl"]), options=DatasetOptions())
    assert len(out) == 3


def test_run_entry_with_repo_subset_and_split(hub_env):
    from ftcore.config import DataConfig
    from ftcore.data.sources import load_source, resolve_entry

    fill_hf_cache(hub_env / "hf", "acme/multi", {"en/train.jsonl": ROWS, "zh/train.jsonl": ROWS[:1]})
    data = DataConfig(datasets=[{"repo": "acme/multi", "subset": "zh", "split": "train"}])
    source = resolve_entry(data.datasets[0], hub=data.hub)
    assert source.spec.train == ["zh:train"] and source.label == "acme/multi"
    train, val = load_source(source, data)
    assert len(train) == 1 and val is None


def test_val_split_matches_the_datasets_validation_name_in_a_cache(hub_env):
    """Specs say "zh:val" (medical-zh, medical-en); the datasets library names val.jsonl "validation"."""
    fill_hf_cache(hub_env / "hf", "acme/medical", {
        "zh/train.jsonl": ROWS, "zh/val.jsonl": ROWS[:2], "zh/test.jsonl": ROWS[:1],
    })
    spec = DatasetSpec(name="med", hub={"huggingface": "acme/medical"}, train=["zh:train", "zh:val"],
                       validation=["zh:test"])
    train, val = load_spec(spec, DatasetOptions())
    assert len(train) == 5 and len(val) == 1
    spec = DatasetSpec(name="med", hub={"huggingface": "acme/medical"}, train=["zh:train"],
                       validation=["zh:validation"])
    train, val = load_spec(spec, DatasetOptions())
    assert len(train) == 3 and len(val) == 2


def test_val_and_validation_split_names_are_one_split():
    assert loading._pick_split({"train": 1, "val": 2}, "validation", "x") == 2
    assert loading._pick_split({"train": 1, "validation": 2}, "val", "x") == 2
    assert loading._pick_split({"train": 1, "val": 2, "validation": 3}, "val", "x") == 2
    with pytest.raises(FtcoreError, match="no split 'test'"):
        loading._pick_split({"train": 1, "validation": 2}, "test", "x")


def test_cached_copy_without_the_wanted_split_is_not_called_uncached(hub_env):
    fill_hf_cache(hub_env / "hf", "acme/partial", {"zh/train.jsonl": ROWS})
    spec = DatasetSpec(name="partial", hub={"huggingface": "acme/partial"}, train=["zh:train", "zh:dev"])
    with pytest.raises(FtcoreError) as info:
        load_spec(spec, DatasetOptions())
    msg = str(info.value)
    assert "\n" not in msg and "not in the local cache" not in msg and "no split 'dev'" in msg

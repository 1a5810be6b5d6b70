"""The one rule that sorts a plain ``data.datasets`` string into a local path or a catalog name, and that
``ftcore validate`` and loading agree on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftcore.config import config_from_dict
from ftcore.data.sources import classify_entry, resolve_entry, unsupported_file_type
from ftcore.errors import ConfigError, FtcoreError
from ftcore.validation import check_references


@pytest.mark.parametrize("text", ["data.jsonl", "data.json", "data.csv", "data.tsv", "data.parquet", "DATA.CSV",
                                  "notes.txt", "./my-set", "sub/data", "/abs/folder", "~/data", "builtin:x.jsonl"])
def test_paths(text: str) -> None:
    assert classify_entry(text) == "path"


@pytest.mark.parametrize("text", ["alpaca-en", "blossom-math-zh", "self-cognition-mini", "qwen2.5-sft"])
def test_names(text: str) -> None:
    assert classify_entry(text) == "name"


def test_a_registered_name_wins_over_a_path_look() -> None:
    assert classify_entry("faq.csv", registered={"faq.csv"}) == "name"


def test_an_existing_folder_under_the_run_dir_is_a_path(tmp_path: Path) -> None:
    (tmp_path / "my-set").mkdir()
    assert classify_entry("my-set", base_dir=tmp_path) == "path"
    assert classify_entry("other-set", base_dir=tmp_path) == "name"


def test_unsupported_file_type(tmp_path: Path) -> None:
    assert unsupported_file_type(tmp_path / "a.tsv") is None
    assert unsupported_file_type(tmp_path) is None
    assert "unsupported file type .txt" in str(unsupported_file_type(tmp_path / "a.txt"))


def _cfg(tmp_path: Path, entry: str):
    return config_from_dict({"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": [entry]}},
                            base_dir=str(tmp_path))


def test_validation_accepts_a_tsv_file_and_loading_reads_it(tmp_path: Path) -> None:
    (tmp_path / "data.tsv").write_text("query\tresponse\nhi\thello\n")
    check_references(_cfg(tmp_path, "data.tsv"))  # no "unknown dataset"
    source = resolve_entry("data.tsv", base_dir=str(tmp_path))
    assert source.spec.path == str(tmp_path / "data.tsv")


def test_a_txt_file_fails_validation_not_later(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError, match=r"data.datasets\[0\]: notes.txt: unsupported file type \.txt"):
        check_references(_cfg(tmp_path, "notes.txt"))
    with pytest.raises(ConfigError, match=r"data.datasets\[0\]: file missing.txt not found"):
        check_references(_cfg(tmp_path, "missing.txt"))


def test_an_unknown_name_fails_validation_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.datasets\[0\]: .*self-cognition-min"):
        check_references(_cfg(tmp_path, "self-cognition-min"))
    with pytest.raises(FtcoreError):
        resolve_entry("self-cognition-min", base_dir=str(tmp_path))


def test_builtin_entries_and_folders_resolve_to_local_specs(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    check_references(_cfg(tmp_path, "./folder"))
    assert resolve_entry("./folder", base_dir=str(tmp_path)).spec.path == str(tmp_path / "folder")
    assert resolve_entry("builtin:x.jsonl").spec.path == "builtin:x.jsonl"

"""Model resolution: local folders, pre-filled Hugging Face / ModelScope caches (no network), offline errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftcore.config import config_from_dict
from ftcore.errors import FtcoreError
from ftcore.models import resolve_dtype, resolve_model, spec_slug
from ftcore.models.hub import snapshot
from ftcore.testing import build_tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(build_tiny_model_dir(tmp_path_factory.mktemp("tiny"), arch="qwen2"))


def _hf_cache(root: Path, repo: str, src: Path, rev: str = "0123456789abcdef0123456789abcdef01234567",
              ref: str = "main") -> Path:
    folder = root / f"models--{repo.replace('/', '--')}"
    snap = folder / "snapshots" / rev
    shutil.copytree(src, snap)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / ref).write_text(rev)
    return snap


def _cfg(tmp_path: Path, **model) -> object:
    return config_from_dict({"model": model}, base_dir=str(tmp_path))


def test_local_path(tmp_path: Path, tiny_dir: Path) -> None:
    spec, folder = resolve_model(_cfg(tmp_path, path=str(tiny_dir)))
    assert folder == str(tiny_dir)
    assert spec.name == spec_slug(str(tiny_dir))


def test_registered_name_with_a_local_folder_uses_the_folder_and_the_spec(tmp_path: Path, tiny_dir: Path) -> None:
    """model.name + model.path: the catalog entry (template, targets) with its files already on disk, no hub."""
    spec, folder = resolve_model(_cfg(tmp_path, name="ftcore-tiny-qwen2", path=str(tiny_dir)))
    assert (spec.name, folder) == ("ftcore-tiny-qwen2", str(tiny_dir))
    with pytest.raises(FtcoreError, match="model.path: folder ./nope not found"):
        resolve_model(_cfg(tmp_path, name="ftcore-tiny-qwen2", path="./nope"))


def test_missing_local_path_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FtcoreError, match="model.path: folder ./nope not found") as err:
        resolve_model(_cfg(tmp_path, path="./nope"))
    assert "\n" not in str(err.value)


def test_hf_cache_hit_without_network(tmp_path: Path, tiny_dir: Path) -> None:
    cache = tmp_path / "hf"
    snap = _hf_cache(cache, "org/Tiny-Model", tiny_dir)
    spec, folder = resolve_model(_cfg(tmp_path, repo="org/Tiny-Model", cache_dir=str(cache)))
    assert Path(folder) == snap
    assert spec.name == "tiny-model"
    assert spec.hub == {"huggingface": "org/Tiny-Model", "modelscope": "org/Tiny-Model"}


def test_hf_cache_honours_revision(tmp_path: Path, tiny_dir: Path) -> None:
    cache = tmp_path / "hf"
    _hf_cache(cache, "org/tiny", tiny_dir, rev="a" * 40, ref="main")
    v1 = _hf_cache(cache, "org/tiny", tiny_dir, rev="b" * 40, ref="v1")
    _, folder = resolve_model(_cfg(tmp_path, repo="org/tiny", revision="v1", hub="huggingface",
                                   cache_dir=str(cache)))
    assert Path(folder) == v1


def test_modelscope_cache_hit_without_network(tmp_path: Path, tiny_dir: Path, monkeypatch) -> None:
    pytest.importorskip("modelscope")
    cache = tmp_path / "ms"
    target = cache / "models" / "org" / "Tiny___Model"  # ModelScope escapes '.' in names as '___'
    shutil.copytree(tiny_dir, target)
    # hub = auto: the Hugging Face cache misses, the ModelScope cache hits — before any download is tried
    _, folder = resolve_model(_cfg(tmp_path, repo="org/Tiny.Model", cache_dir=str(cache)))
    assert Path(folder) == target
    _, folder = resolve_model(_cfg(tmp_path, repo="org/Tiny.Model", hub="modelscope", cache_dir=str(cache)))
    assert Path(folder) == target


def test_offline_and_not_cached_is_one_line_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FTCORE_OFFLINE", "1")
    with pytest.raises(FtcoreError) as err:
        resolve_model(_cfg(tmp_path, repo="org/not-cached", cache_dir=str(tmp_path / "c")))
    text = str(err.value)
    assert "\n" not in text
    assert "org/not-cached" in text and "not in the local cache" in text and "offline" in text


def test_download_failure_is_one_line_error(tmp_path: Path, monkeypatch) -> None:
    # network guard on: the Hugging Face download fails at once; the message stays one line
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
    with pytest.raises(FtcoreError) as err:
        snapshot({"huggingface": "org/absent"}, hub="huggingface", cache_dir=str(tmp_path / "c"), what="model x:")
    assert "\n" not in str(err.value) and "org/absent" in str(err.value)


def test_snapshot_passes_revision_and_ignore_patterns(monkeypatch, tmp_path: Path) -> None:
    from ftcore.models import hub

    seen = []

    def fake(repo_id, *, revision, cache_dir, ignore, local_files_only):
        seen.append((repo_id, revision, tuple(ignore), local_files_only))
        if local_files_only:
            raise OSError("not cached")
        return str(tmp_path)

    monkeypatch.setitem(hub._SNAPSHOT, "huggingface", fake)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("FTCORE_OFFLINE", raising=False)
    out = snapshot({"huggingface": "o/m"}, hub="huggingface", revision="v2", ignore_patterns=["*.bin"])
    assert out == str(tmp_path)
    assert seen == [("o/m", "v2", ("*.bin",), True), ("o/m", "v2", ("*.bin",), False)]


def test_catalog_spec_by_hub_id(tmp_path: Path, tiny_dir: Path) -> None:
    from ftcore.registry import get_catalog
    from ftcore.specs import ModelSpec

    catalog = get_catalog()
    spec = ModelSpec(name="test-known", hub={"huggingface": "Org/Known"}, template="chatml", lora_targets=["q_proj"])
    catalog.models.specs["test-known"] = spec
    try:
        cache = tmp_path / "hf"
        _hf_cache(cache, "Org/Known", tiny_dir)
        got, _ = resolve_model(_cfg(tmp_path, repo="org/known", hub="huggingface", cache_dir=str(cache)))
        assert got is spec
    finally:
        del catalog.models.specs["test-known"]


def test_repo_that_is_a_local_folder(tmp_path: Path, tiny_dir: Path) -> None:
    _, folder = resolve_model(_cfg(tmp_path, repo=str(tiny_dir)))
    assert folder == str(tiny_dir)


def test_dtype_auto_on_cpu_is_fp32() -> None:
    assert resolve_dtype("auto") == "fp32"
    assert resolve_dtype("bf16") == "bf16"


def test_spec_slug() -> None:
    assert spec_slug("Qwen/Qwen2.5-0.5B-Instruct") == "qwen2.5-0.5b-instruct"
    assert spec_slug("/x/My Model/") == "my-model"

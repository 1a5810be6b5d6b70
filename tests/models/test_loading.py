"""The generic loader: dtype, pad token, requirements, attention option, remote code, the builtin model."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftcore.errors import FtcoreError, MissingDependencyError
from ftcore.models.loading import check_requires, load_hf_model
from ftcore.specs import ModelOptions, ModelSpec
from ftcore.testing import build_tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny"), arch="llama")


def test_load_fp32_with_pad_token(tiny_dir: str) -> None:
    import torch

    model, tok = load_hf_model(ModelSpec(name="t", path=tiny_dir), ModelOptions(model_dir=tiny_dir, dtype="fp32"))
    assert model.dtype == torch.float32
    assert tok.pad_token is not None and tok.eos_token is not None
    assert model.config.pad_token_id is not None


def test_load_bf16_and_tokenizer_only(tiny_dir: str) -> None:
    import torch

    model, _ = load_hf_model(ModelSpec(name="t", path=tiny_dir), ModelOptions(model_dir=tiny_dir, dtype="bf16"))
    assert model.dtype == torch.bfloat16
    model, tok = load_hf_model(ModelSpec(name="t", path=tiny_dir),
                               ModelOptions(model_dir=tiny_dir, load_model=False))
    assert model is None and tok is not None


def test_attn_eager(tiny_dir: str) -> None:
    model, _ = load_hf_model(ModelSpec(name="t", path=tiny_dir), ModelOptions(model_dir=tiny_dir, attn="eager"))
    assert model.config._attn_implementation == "eager"


def test_flash_attention_missing_says_pip(tiny_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    # hide flash-attn whether or not this machine has it, so the test always runs
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flash_attn" else real_find_spec(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install flash-attn"):
        load_hf_model(ModelSpec(name="t", path=tiny_dir), ModelOptions(model_dir=tiny_dir, attn="flash_attention_2"))


def test_requires_checked_with_pip_command() -> None:
    check_requires(ModelSpec(name="ok", path="x", requires=["transformers>=4.0"]))
    with pytest.raises(FtcoreError, match=r"needs transformers>=99 \(found .*\): pip install 'transformers>=99'"):
        check_requires(ModelSpec(name="new", path="x", requires=["transformers>=99"]))
    with pytest.raises(FtcoreError, match="not installed"):
        check_requires(ModelSpec(name="new", path="x", requires=["surely-not-a-package-xyz"]))


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(FtcoreError, match="holds no config.json"):
        load_hf_model(ModelSpec(name="t", path=str(tmp_path)), ModelOptions(model_dir=str(tmp_path)))


def test_builtin_tiny_model_and_get_model_tokenizer() -> None:
    from ftcore.models import get_model_tokenizer
    from ftcore.models.hub import ftcore_cache_dir

    model, tok = get_model_tokenizer("ftcore-tiny-qwen2")
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert (ftcore_cache_dir() / "models" / "tiny-qwen2" / "config.json").is_file()
    assert tok.eos_token == "<|im_end|>" and tok.convert_tokens_to_ids("<|im_start|>") is not None
    assert tok.decode(tok("你是谁？ Who are you?")["input_ids"]) == "你是谁？ Who are you?"
    none, tok2 = get_model_tokenizer("ftcore-tiny-qwen2", load_model=False)
    assert none is None and len(tok2) == len(tok)

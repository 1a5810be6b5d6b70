"""Tiny model folders are built once per process: later calls with the same arguments get a copy."""

from __future__ import annotations

from ftcore.testing import build_once, build_tiny_model_dir


def test_build_once_copies_the_first_build(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "weights.bin").write_bytes(b"abc")
        (folder / "sub").mkdir()
        (folder / "sub" / "x.txt").write_text("x")

    first = build_once(tmp_path / "a", ["test_build_once", 1], build)
    second = build_once(tmp_path / "b", ["test_build_once", 1], build)
    assert len(calls) == 1 and first != second
    assert (tmp_path / "b" / "weights.bin").read_bytes() == b"abc" and (tmp_path / "b" / "sub" / "x.txt").is_file()
    (tmp_path / "b" / "weights.bin").write_bytes(b"changed")  # each caller owns its copy
    build_once(tmp_path / "c", ["test_build_once", 1], build)
    assert (tmp_path / "c" / "weights.bin").read_bytes() == b"abc"
    build_once(tmp_path / "d", ["test_build_once", 2], build)  # another key builds anew
    assert len(calls) == 2


def test_tiny_model_copies_load_the_same_weights(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    a = build_tiny_model_dir(tmp_path / "a", arch="llama", hidden_size=32, intermediate_size=64)
    b = build_tiny_model_dir(tmp_path / "b", arch="llama", hidden_size=32, intermediate_size=64)
    ma, mb = AutoModelForCausalLM.from_pretrained(a), AutoModelForCausalLM.from_pretrained(b)
    assert ma.config.hidden_size == 32
    for (na, pa), (nb, pb) in zip(ma.state_dict().items(), mb.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    assert (tmp_path / "b" / "tokenizer.json").is_file()


def test_one_builder_for_every_architecture(tmp_path):
    import pytest

    from ftcore.models import tiny
    from ftcore.testing import TINY_CONFIGS, build_tiny_dir

    assert build_tiny_dir is build_tiny_model_dir is tiny.build_tiny_model_dir
    assert {"qwen2", "qwen3", "llama", "qwen2_moe", "qwen3_moe", "qwen2_vl", "qwen2_5_vl"} <= set(TINY_CONFIGS)
    with pytest.raises(ValueError, match="no tiny config for architecture 'nope'"):
        build_tiny_model_dir(tmp_path / "x", arch="nope")

"""Llama-2's ``pretraining_tp = 1`` step: only for the models ms-swift applies it to, and for ad-hoc folders."""

from __future__ import annotations

import json
from pathlib import Path

from ftcore import ModelOptions
from ftcore.models import load_with
from ftcore.registry import get_catalog


def _load(name_or_spec, folder):
    spec = get_catalog().models.get(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    return load_with(spec, ModelOptions(model_dir=folder, dtype="fp32"))


def test_llama2_13b_gets_pretraining_tp_1(llama2_dir):
    assert json.loads(Path(llama2_dir, "config.json").read_text())["pretraining_tp"] == 2
    model, tok = _load("llama2-13b-chat", llama2_dir)
    assert model.config.pretraining_tp == 1
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>"


def test_llama2_7b_keeps_the_config_as_is(llama2_dir):
    model, _ = _load("llama2-7b-chat", llama2_dir)
    assert model.config.pretraining_tp == 2  # ms-swift: only 13b, 13b-chat and 70b-chat get the fix


def test_ad_hoc_folder_gets_the_fix_through_the_hook(llama2_dir):
    from ftcore import ModelSpec

    model, _ = _load(ModelSpec(name="my-llama", path=llama2_dir), llama2_dir)
    assert model.config.pretraining_tp == 1

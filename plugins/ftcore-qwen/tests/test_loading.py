"""ftcore-qwen's ``load_model``: Qwen-1 / Qwen-VL remote code on the offline stand-ins, GPTQ dependency errors,
and falling through to the core for everything else."""

from __future__ import annotations

import types

import pytest
from ftcore_qwen.loading import load_qwen

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore.plugins import get_plugin_manager
from ftcore.registry import get_catalog


def spec(name: str) -> ModelSpec:
    return get_catalog().models.get(name)


def load_through_hook(name_or_spec, model_dir, **options):
    s = spec(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    opts = ModelOptions(model_dir=model_dir, **{"dtype": "fp32", "trust_remote_code": True, **options})
    return get_plugin_manager().hook.load_model(spec=s, options=opts)


def test_qwen1_remote_code_and_tokenizer_fixes(qwen1_dir):
    model, tok = load_through_hook("qwen-7b-chat", qwen1_dir, dtype="bf16", attn="sdpa")
    assert type(model).__name__ == "QWenLMHeadModel"
    # eos = eod_id (<|endoftext|>, 151643) and pad = eos: the real tokenizer has neither
    assert tok.eos_token_id == tok.eod_id == 151643
    assert tok.pad_token_id == tok.eos_token_id
    assert (model.config.bf16, model.config.fp16, model.config.fp32) == (True, False, False)
    assert model.config.use_flash_attn is False
    assert model.config.pad_token_id == 151643
    assert next(model.parameters()).dtype.__repr__() == "torch.bfloat16"


def test_qwen1_use_flash_attn_follows_attn(qwen1_dir):
    from ftcore_qwen.loading import qwen1_config

    assert qwen1_config(qwen1_dir, "fp16", None).use_flash_attn == "auto"
    assert qwen1_config(qwen1_dir, "fp16", "flash_attention_2").use_flash_attn is True
    config = qwen1_config(qwen1_dir, "fp16", "eager")
    assert (config.fp16, config.bf16, config.fp32, config.use_flash_attn) == (True, False, False, False)


def test_qwen1_tokenizer_only(qwen1_dir):
    model, tok = load_through_hook("qwen-14b", qwen1_dir, load_model=False)
    assert model is None and tok.pad_token == "<|endoftext|>"


def test_qwen1_refuses_without_trust_remote_code(qwen1_dir):
    with pytest.raises(ftcore.FtcoreError, match="trust_remote_code = true"):
        load_through_hook("qwen-7b-chat", qwen1_dir, trust_remote_code=False)


def test_adhoc_folder_with_qwen1_weights_is_handled(qwen1_dir):
    model, tok = load_through_hook(ModelSpec(name="my-qwen", path=qwen1_dir), qwen1_dir)
    assert type(model).__name__ == "QWenLMHeadModel" and tok.eos_token == "<|endoftext|>"


def test_qwen_vl_dropout_clone_fix(qwen_vl_dir):
    import torch

    model, tok = load_through_hook("qwen-vl-chat", qwen_vl_dir)
    drop = model.transformer.drop
    assert drop.p == 0 and drop._ftcore_clone_output
    x = torch.ones(2)
    assert drop(x) is not x  # a clone, not the input itself
    assert hasattr(model.transformer.visual.attn_pool, "attn")


def test_qwen_vl_bnb_keeps_vision_pooling_unquantized(qwen_vl_dir, monkeypatch):
    """With bitsandbytes settings, Qwen-VL's attn_pool.attn and lm_head stay out of quantization."""
    from transformers import AutoModelForCausalLM

    q = types.SimpleNamespace(llm_int8_skip_modules=None)
    monkeypatch.setattr(ftcore.ModelLoader, "quantization_kwargs", lambda self: {"quantization_config": q})
    seen = {}
    real = AutoModelForCausalLM.from_pretrained

    def fake_from_pretrained(model_dir, **kwargs):
        seen.update(kwargs)
        kwargs.pop("quantization_config")
        return real(model_dir, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    load_through_hook("qwen-vl-chat", qwen_vl_dir, quantization={"bits": 4})
    assert seen["quantization_config"] is q
    assert q.llm_int8_skip_modules == ["lm_head", "attn_pool.attn"]


@pytest.mark.parametrize("name", ["qwen-7b-chat-int4", "qwen-14b-chat-int8", "qwen-vl-chat-int4",
                                  "qwen2.5-7b-instruct-int4", "qwen1.5-7b-chat-int8"])
def test_gptq_without_the_extra_is_one_line_with_pip_command(name, tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n in ("optimum", "gptqmodel") else real_find_spec(n, *a)
    )
    with pytest.raises(ftcore.MissingDependencyError) as err:
        load_qwen(spec(name), ModelOptions(model_dir=str(tmp_path), trust_remote_code=True))
    message = str(err.value)
    assert "\n" not in message
    assert name in message and "GPTQ" in message
    assert message.endswith("pip install 'ftcore-qwen[gptq]'")


@pytest.mark.parametrize("name", ["qwen2.5-7b-instruct", "qwen3-8b", "qwen2-vl-7b-instruct", "qwen1.5-7b"])
def test_native_families_fall_through_to_the_core(name, tmp_path):
    assert load_qwen(spec(name), ModelOptions(model_dir=str(tmp_path))) is None


def test_other_plugins_specs_are_not_ours(tmp_path):
    other = ModelSpec(name="qwen-7b-chat", hub={"huggingface": "x/y"}, plugin="someone-else 1.0")
    assert load_qwen(other, ModelOptions(model_dir=str(tmp_path))) is None


def test_catalog_specs_name_their_model_loader():
    """Qwen-1 / Qwen-VL / GPTQ entries carry a ModelLoader subclass as a "module:Class" string (no import at
    registration); the native families load with the core's own loader."""
    from ftcore_qwen import loading as qwen_loading

    from ftcore.models.loading import loader_class

    catalog = get_catalog()
    assert loader_class(spec("qwen-7b-chat").loader) is qwen_loading.Qwen1Loader
    assert loader_class(spec("qwen-vl-chat").loader) is qwen_loading.QwenVLLoader
    assert loader_class(spec("qwen-vl-chat-int4").loader) is qwen_loading.QwenVLGPTQLoader
    assert loader_class(spec("qwen-14b-chat-int8").loader) is qwen_loading.Qwen1GPTQLoader
    assert loader_class(spec("qwen2.5-7b-instruct-int4").loader) is qwen_loading.QwenGPTQLoader
    assert spec("qwen2.5-7b-instruct").loader is None
    for s in catalog.models:
        if s.plugin.startswith("ftcore-qwen") and s.loader is not None:
            assert issubclass(loader_class(s.loader), ftcore.ModelLoader), s.name


def test_the_core_loads_through_the_specs_loader(qwen_vl_dir):
    """``ftcore.models.load_with`` (what train / infer / eval use) runs the spec's QwenVLLoader."""
    from ftcore.models import load_with

    opts = ModelOptions(model_dir=qwen_vl_dir, dtype="fp32", trust_remote_code=True)
    model, tok = load_with(spec("qwen-vl-chat"), opts)
    assert model.transformer.drop._ftcore_clone_output and tok.pad_token_id == tok.eos_token_id

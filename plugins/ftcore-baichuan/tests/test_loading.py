"""ftcore-baichuan's ``load_model`` on the offline stand-ins: remote code, W_pack, NormHead, the 13B fixes, int4."""

from __future__ import annotations

import dataclasses

import pytest
from ftcore_baichuan.loading import load_baichuan

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore.plugins import get_plugin_manager
from ftcore.registry import get_catalog


def load(name_or_spec, model_dir, **options):
    spec = get_catalog().models.get(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    opts = ModelOptions(model_dir=model_dir, **{"dtype": "fp32", "trust_remote_code": True, **options})
    return get_plugin_manager().hook.load_model(spec=spec, options=opts)


def test_baichuan2_remote_code_w_pack_and_pad_token(baichuan2_dir):
    model, tok = load("baichuan2-7b-chat", baichuan2_dir)
    assert type(model).__name__ == "BaichuanForCausalLM"
    assert hasattr(model.model.layers[0].self_attn, "W_pack")
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token_id == tok.eos_token_id
    assert model.generation_config.user_token_id == 195 and model.generation_config.assistant_token_id == 196


def test_norm_head_is_normalised_in_fp32(baichuan2_dir):
    import torch
    import torch.nn.functional as F

    model, _ = load("baichuan2-7b", baichuan2_dir, dtype="bf16")
    head = model.lm_head
    assert type(head).__name__ == "NormHead" and head._ftcore_norm_head
    h = torch.randn(1, 3, head.weight.shape[1], dtype=torch.bfloat16)
    model.train()
    expected = F.linear(h, F.normalize(head.weight.float(), dim=-1).to(torch.bfloat16))
    assert torch.equal(head(h), expected)
    assert head.first_flag
    model.eval()
    head(h)  # first eval call normalises the weight in place, once
    assert not head.first_flag
    norms = head.weight.float().norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-2)
    before = head.weight.detach().clone()
    head(h)
    assert torch.equal(head.weight, before)


def test_baichuan2_13b_config_flag_is_fixed(baichuan2_13b_dir):
    from transformers import AutoConfig

    raw = AutoConfig.from_pretrained(baichuan2_13b_dir, trust_remote_code=True)
    assert isinstance(raw.gradient_checkpointing, tuple)  # the remote config's trailing-comma bug
    model, _ = load("baichuan2-13b-chat", baichuan2_13b_dir)
    assert model.config.gradient_checkpointing is False
    assert model.lm_head._ftcore_norm_head


def test_baichuan_13b_gets_an_input_embedding_accessor(baichuan_13b_dir):
    model, _ = load("baichuan-13b", baichuan_13b_dir)
    assert model.get_input_embeddings() is model.model.embed_tokens
    model.enable_input_require_grads()  # what gradient checkpointing with LoRA needs
    assert type(model.lm_head).__name__ == "Linear"


def test_baichuan_13b_tokenizer_only_does_not_probe_a_missing_model(baichuan_13b_dir):
    model, tok = load("baichuan-13b", baichuan_13b_dir, load_model=False)
    assert model is None and tok.pad_token is not None


def test_int4_ignores_bitsandbytes_settings_and_marks_the_model(baichuan2_dir):
    spec = get_catalog().models.get("baichuan2-7b-chat-int4")
    # the stand-in is not really 4-bit, so do not require bitsandbytes here
    model, _ = load(dataclasses.replace(spec, requires=[]), baichuan2_dir, quantization={"bits": 4})
    assert model.training and model.is_loaded_in_4bit and model._is_quantized_training_enabled
    assert model.lm_head._ftcore_norm_head


def test_int4_without_bitsandbytes_names_the_pip_command(baichuan2_dir, monkeypatch):
    import importlib.metadata

    real_version = importlib.metadata.version

    def version(name):
        if name == "bitsandbytes":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(ftcore.FtcoreError, match="pip install 'bitsandbytes"):
        load("baichuan2-7b-chat-int4", baichuan2_dir)


def test_refuses_without_trust_remote_code(baichuan2_dir):
    with pytest.raises(ftcore.FtcoreError, match="trust_remote_code = true"):
        load("baichuan2-7b-chat", baichuan2_dir, trust_remote_code=False)


def test_adhoc_baichuan_folder_is_handled(baichuan2_dir):
    model, _ = load(ModelSpec(name="my-baichuan", path=baichuan2_dir), baichuan2_dir)
    assert type(model).__name__ == "BaichuanForCausalLM"


def test_other_models_fall_through(tmp_path):
    assert load_baichuan(ModelSpec(name="qwen2.5-7b-instruct", hub={"huggingface": "Qwen/x"}),
                         ModelOptions(model_dir=str(tmp_path))) is None


def test_catalog_specs_name_their_model_loader():
    """Every entry carries the ModelLoader subclass of its loading steps as a "module:Class" string."""
    from ftcore_baichuan import loading as baichuan_loading
    from ftcore_baichuan.catalog import FAMILY, LOADERS

    from ftcore.models.loading import loader_class

    for name, steps in FAMILY.items():
        cls = loader_class(get_catalog().models.get(name).loader)
        assert cls is getattr(baichuan_loading, LOADERS[steps]) and issubclass(cls, ftcore.ModelLoader)
    assert issubclass(baichuan_loading.Baichuan2_13BLoader, baichuan_loading.Baichuan2Loader)


def test_the_core_loads_through_the_specs_loader(baichuan2_13b_dir):
    """``ftcore.models.load_with`` (what train / infer / eval use) runs the spec's Baichuan2_13BLoader."""
    from ftcore.models import load_with

    opts = ModelOptions(model_dir=baichuan2_13b_dir, dtype="fp32", trust_remote_code=True)
    model, _ = load_with(get_catalog().models.get("baichuan2-13b-chat"), opts)
    assert model.lm_head._ftcore_norm_head
    assert not isinstance(model.config.gradient_checkpointing, tuple)

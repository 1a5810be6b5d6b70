"""ftcore-xverse's loader on the offline stand-in: remote code, q/k/v projections, trust_remote_code required."""

from __future__ import annotations

import pytest
from ftcore_xverse.loading import XverseLoader, load_xverse

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore.plugins import get_plugin_manager
from ftcore.registry import get_catalog


def load(name_or_spec, model_dir, **options):
    spec = get_catalog().models.get(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    opts = ModelOptions(model_dir=model_dir, **{"dtype": "fp32", "trust_remote_code": True, **options})
    return get_plugin_manager().hook.load_model(spec=spec, options=opts)


def test_remote_code_model_and_tokenizer(xverse_dir):
    model, tok = load("xverse-13b-chat", xverse_dir)
    assert type(model).__name__ == "XverseForCausalLM"
    assert type(model).__module__.endswith("modeling_xverse")  # the folder's own code, through trust_remote_code
    attn = model.model.layers[0].self_attn
    assert all(hasattr(attn, p) for p in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token_id == tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id


def test_refuses_without_trust_remote_code(xverse_dir):
    with pytest.raises(ftcore.FtcoreError, match=r"model 'xverse-7b-chat' .*\(XVERSE\) from .*; set model.trust_remote_code"):
        load("xverse-7b-chat", xverse_dir, trust_remote_code=False)


def test_attention_is_left_to_the_remote_code(xverse_dir):
    spec = get_catalog().models.get("xverse-7b")
    loader = XverseLoader(spec, ModelOptions(model_dir=xverse_dir, attn="sdpa", trust_remote_code=True))
    assert "attn_implementation" not in loader.from_pretrained_kwargs()


def test_adhoc_xverse_folder_is_handled(xverse_dir):
    model, _ = load(ModelSpec(name="my-xverse", path=xverse_dir), xverse_dir)
    assert type(model).__name__ == "XverseForCausalLM"


def test_other_models_fall_through(tmp_path):
    assert load_xverse(ModelSpec(name="qwen2.5-7b-instruct", hub={"huggingface": "Qwen/x"}),
                       ModelOptions(model_dir=str(tmp_path))) is None


def test_catalog_specs_name_their_model_loader():
    from ftcore.models.loading import loader_class

    for name in ("xverse-7b", "xverse-7b-chat", "xverse-13b", "xverse-13b-chat"):
        assert loader_class(get_catalog().models.get(name).loader) is XverseLoader

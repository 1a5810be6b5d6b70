"""ftcore-internlm's loaders on the offline stand-ins: remote code, q/k/v (InternLM-1) and wqkv (InternLM2)."""

from __future__ import annotations

import pytest
from ftcore_internlm import loading as internlm_loading
from ftcore_internlm.loading import load_internlm

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore.plugins import get_plugin_manager
from ftcore.registry import get_catalog


def load(name_or_spec, model_dir, **options):
    spec = get_catalog().models.get(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    opts = ModelOptions(model_dir=model_dir, **{"dtype": "fp32", "trust_remote_code": True, **options})
    return get_plugin_manager().hook.load_model(spec=spec, options=opts)


def test_internlm1_remote_code(internlm_dir):
    model, tok = load("internlm-20b-chat", internlm_dir)
    assert type(model).__name__ == "InternLMForCausalLM" and type(model).__module__.endswith("modeling_internlm")
    attn = model.model.layers[0].self_attn
    assert attn.q_proj.bias is not None  # InternLM-1's projections have a bias
    assert (tok.bos_token, tok.eos_token) == ("<s>", "</s>") and tok.pad_token_id == tok.eos_token_id


def test_internlm2_remote_code_wqkv_and_output_head(internlm2_dir):
    model, tok = load("internlm2.5-7b-chat", internlm2_dir)
    assert type(model).__name__ == "InternLM2ForCausalLM"
    assert hasattr(model.model.layers[0].attention, "wqkv")
    assert model.get_output_embeddings() is model.output
    assert tok.chat_template  # the hub tokenizer ships one


@pytest.mark.parametrize("name, family", [("internlm-7b", "InternLM"), ("internlm2-7b-chat", "InternLM2"),
                                          ("internlm3-8b-instruct", "InternLM3")])
def test_refuses_without_trust_remote_code(internlm_dir, name, family):
    with pytest.raises(ftcore.FtcoreError, match=rf"model '{name}' .*\({family}\) from .*; set model.trust_remote_code"):
        load(name, internlm_dir, trust_remote_code=False)


def test_adhoc_folders_are_handled(internlm_dir, internlm2_dir):
    model, _ = load(ModelSpec(name="my-internlm2", path=internlm2_dir), internlm2_dir)
    assert type(model).__name__ == "InternLM2ForCausalLM"
    assert internlm_loading.arch_of(ModelSpec(name="x", path=internlm_dir), internlm_dir) == "internlm"


def test_other_models_fall_through(tmp_path):
    assert load_internlm(ModelSpec(name="qwen2.5-7b-instruct", hub={"huggingface": "Qwen/x"}),
                         ModelOptions(model_dir=str(tmp_path))) is None


def test_catalog_specs_name_their_model_loader():
    from ftcore_internlm.catalog import ARCH, LOADERS

    from ftcore.models.loading import loader_class

    for name, arch in ARCH.items():
        cls = loader_class(get_catalog().models.get(name).loader)
        assert cls is getattr(internlm_loading, LOADERS[arch]) and issubclass(cls, ftcore.ModelLoader)

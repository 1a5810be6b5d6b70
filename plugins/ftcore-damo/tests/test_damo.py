"""ftcore-damo: PolyLM-13B (slow legacy tokenizer, c_attn) and SeqGPT-560M (BLOOM, default-generation)."""

from __future__ import annotations

import pytest

from ftcore import ModelOptions
from ftcore.models import load_with
from ftcore.registry import get_catalog
from ftcore.testing import check_plugin


def test_catalog():
    catalog = get_catalog()
    assert {s.name for s in catalog.models if s.plugin.startswith("ftcore-damo ")} == {"polylm-13b", "seqgpt-560m"}
    polylm, seqgpt = catalog.models.get("polylm-13b"), catalog.models.get("seqgpt-560m")
    assert polylm.hub["modelscope"] == "damo/nlp_polylm_13b_text_generation" and polylm.template == "default"
    assert polylm.lora_targets == ["c_attn"]
    assert seqgpt.hub["modelscope"] == "damo/nlp_seqgpt-560m" and seqgpt.template == "default-generation"
    assert seqgpt.lora_targets == ["query_key_value"]


def test_polylm_tokenizer_is_loaded_slow_and_legacy(tiny_models, tmp_path, monkeypatch):
    import transformers

    seen = {}
    original = transformers.AutoTokenizer.from_pretrained

    def spy(path, **kwargs):
        seen.update(kwargs)
        return original(path, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    spec = get_catalog().models.get("polylm-13b")
    _, tok = load_with(spec, ModelOptions(model_dir=tiny_models["polylm-13b"](tmp_path), dtype="fp32",
                                          load_model=False, trust_remote_code=True))
    assert seen["use_fast"] is False and seen["legacy"] is True
    assert tok.eos_token == "</s>"


@pytest.mark.slow
def test_every_damo_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-damo", tiny_models=tiny_models, work_dir=tmp_path_factory.mktemp("c"),
                          strict=True, train="all")
    assert report.problems == [] and report.not_exercised == []
    assert sorted(report.trained) == ["polylm-13b", "seqgpt-560m"]
    assert report.model("polylm-13b").targets == ["c_attn"]
    assert report.model("seqgpt-560m").targets == ["query_key_value"]

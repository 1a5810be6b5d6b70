"""ftcore-qwen passes the plugin conformance kit: every model's spec, template and LoRA targets on a tiny stand-in
of its architecture; a two-step train + infer on the remote-code Qwen-1 and the Qwen2-VL stand-ins (Qwen2 / Qwen3 / the
qwen3 templates train in the core's and test_templates' tests)."""

from __future__ import annotations

import pytest

from ftcore.testing import check_plugin


@pytest.mark.slow
def test_every_qwen_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin(
        "ftcore-qwen",
        tiny_models=tiny_models,
        train=["qwen-7b-chat", "qwen2-vl-2b-instruct"],  # remote code; image-text-to-text class
        work_dir=tmp_path_factory.mktemp("conformance"),
        strict=True,
    )
    assert report.problems == []
    assert report.not_exercised == []  # every model met a tiny instance of its architecture
    assert len(report.models) > 150
    assert sorted(report.trained) == ["qwen-7b-chat", "qwen2-vl-2b-instruct"]
    assert report.model("qwen-7b-chat").targets == ["c_attn"]
    assert report.model("qwen2.5-vl-7b-instruct").targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    for name in report.trained:
        assert isinstance(report.model(name).answer, str)

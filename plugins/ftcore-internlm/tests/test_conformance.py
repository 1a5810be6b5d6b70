"""ftcore-internlm passes the plugin conformance kit on its offline stand-ins: every model's spec, template and
targets; a two-step LoRA train + save + infer on InternLM-1 chat (internlm template) and InternLM2.5 chat
(wqkv, internlm2 template)."""

from __future__ import annotations

import pytest

from ftcore.testing import check_plugin


@pytest.mark.slow
def test_every_internlm_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-internlm", tiny_models=tiny_models,
                          train=["internlm-7b-chat", "internlm2.5-7b-chat"],
                          work_dir=tmp_path_factory.mktemp("conformance"), strict=True)
    assert report.problems == [] and report.not_exercised == []
    assert len(report.models) == 13
    assert sorted(report.trained) == ["internlm-7b-chat", "internlm2.5-7b-chat"]
    for check in report.models:
        if check.name.startswith("internlm2"):
            assert check.targets == ["wqkv"] and check.wrapped == 2
        else:
            assert check.targets == ["q_proj", "k_proj", "v_proj"] and check.wrapped == 6

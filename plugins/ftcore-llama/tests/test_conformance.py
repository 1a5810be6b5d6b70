"""ftcore-llama passes the plugin conformance kit: every model's spec, template and q/k/v targets; a two-step
train + infer on Llama-2-13B-chat (pretraining_tp fix, llama template) and Llama-3.1-8B-Instruct (llama3)."""

from __future__ import annotations

import pytest

from ftcore.testing import check_plugin


@pytest.mark.slow
def test_every_llama_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-llama", tiny_models=tiny_models, train=["llama2-13b-chat", "llama3.1-8b-instruct"],
                          work_dir=tmp_path_factory.mktemp("conformance"), strict=True)
    assert report.problems == [] and report.not_exercised == []
    assert len(report.models) == 19
    assert sorted(report.trained) == ["llama2-13b-chat", "llama3.1-8b-instruct"]
    for check in report.models:
        assert check.targets == ["q_proj", "k_proj", "v_proj"] and check.wrapped == 6

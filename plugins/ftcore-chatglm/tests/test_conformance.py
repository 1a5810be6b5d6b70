"""ftcore-chatglm passes the plugin conformance kit on its offline stand-ins: every model's spec, template and
targets; a two-step LoRA train + save + infer on ChatGLM2 (remote code, chatglm2 template), ChatGLM3 (chatglm3)
and GLM-4-0414 (transformers' Glm4, glm4 template)."""

from __future__ import annotations

import pytest

from ftcore.testing import check_plugin

# one per template class and architecture: remote code + chatglm2, remote code + chatglm3 (GLMTemplate), Glm4 + glm4;
# glm-4-9b-chat (transformers' Glm) is loaded, its template and targets checked, not trained
TRAINED = ["chatglm2-6b", "chatglm3-6b", "glm-4-9b-0414"]


@pytest.mark.slow
def test_every_chatglm_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-chatglm", tiny_models=tiny_models, train=TRAINED,
                          work_dir=tmp_path_factory.mktemp("conformance"), strict=True)
    assert report.problems == [] and report.not_exercised == []
    assert len(report.models) == 9 and sorted(report.trained) == TRAINED
    for check in report.models:
        if check.name.startswith("chatglm"):
            assert check.targets == ["query_key_value"] and check.wrapped == 2
        else:
            assert check.targets == ["q_proj", "k_proj", "v_proj"] and check.wrapped == 6

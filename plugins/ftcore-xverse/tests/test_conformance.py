"""ftcore-xverse passes the plugin conformance kit on its offline stand-in: every model's spec, template and
q/k/v targets; a two-step LoRA train + save + infer on xverse-7b-chat (remote code, the xverse template)."""

from __future__ import annotations

import pytest

from ftcore.testing import check_plugin


@pytest.mark.slow
def test_every_xverse_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-xverse", tiny_models=tiny_models, train=["xverse-7b-chat"],
                          work_dir=tmp_path_factory.mktemp("conformance"), strict=True)
    assert report.problems == [] and report.not_exercised == []
    assert len(report.models) == 4 and report.trained == ["xverse-7b-chat"]
    assert isinstance(report.model("xverse-7b-chat").answer, str)
    for check in report.models:
        assert check.targets == ["q_proj", "k_proj", "v_proj"] and check.wrapped == 6  # 3 per layer, 2 layers

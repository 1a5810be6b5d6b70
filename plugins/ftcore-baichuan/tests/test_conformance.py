"""ftcore-baichuan passes the plugin conformance kit on its offline stand-ins: every model's spec, template and
W_pack target; a two-step train + infer on Baichuan2 (NormHead, baichuan template) and Baichuan-13B-Base
(patched embedding accessor)."""

from __future__ import annotations

import pytest

from ftcore.testing import check_plugin


@pytest.mark.slow
def test_every_baichuan_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin(
        "ftcore-baichuan",
        tiny_models=tiny_models,
        train=["baichuan2-7b-chat", "baichuan-13b"],
        work_dir=tmp_path_factory.mktemp("conformance"),
        strict=True,
    )
    assert report.problems == []
    assert report.not_exercised == []
    assert len(report.models) == 9
    assert sorted(report.trained) == ["baichuan-13b", "baichuan2-7b-chat"]
    for check in report.models:
        assert check.targets == ["W_pack"] and check.wrapped == 2  # one per layer of the 2-layer stand-in

"""ftcore-ziya: ms-swift's two models, the conformance kit, and the ``ziya`` text as ms-swift writes it."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from ftcore.registry import get_catalog
from ftcore.templates import IGNORE_INDEX, get_template
from ftcore.testing import check_plugin


def test_catalog_has_the_seed_models():
    catalog = get_catalog()
    assert {s.name for s in catalog.models if s.plugin.startswith("ftcore-ziya ")} == {"ziya2-13b", "ziya2-13b-chat"}
    chat = catalog.models.get("ziya2-13b-chat")
    assert chat.hub == {"modelscope": "Fengshenbang/Ziya2-13B-Chat", "huggingface": "IDEA-CCNL/Ziya2-13B-Chat"}
    assert chat.template == "ziya" and catalog.models.get("ziya2-13b").template == "default"
    assert chat.lora_targets == ["q_proj", "k_proj", "v_proj"]


@pytest.mark.slow
def test_every_ziya_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-ziya", tiny_models=tiny_models, work_dir=tmp_path_factory.mktemp("c"),
                          strict=True, train=["ziya2-13b-chat"])
    assert report.problems == [] and report.not_exercised == [] and report.trained == ["ziya2-13b-chat"]


def test_ziya_template_writes_ms_swift_text(tiny_models, tmp_path):
    """No chat_template ships with Ziya2: the reference is ms-swift's rendering (no system slot)."""
    tok = AutoTokenizer.from_pretrained(tiny_models["ziya2-*"](tmp_path))
    conversation = [{"role": "system", "content": "ignored"},
                    {"role": "user", "content": "你好"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "等于 4"}]
    enc = get_template("ziya", tok).encode(conversation)
    assert tok.decode(enc["input_ids"]) == "<s><human>:你好\n<bot>:Hello!\n<human>:2+2?\n<bot>:等于 4</s>"
    labelled = [i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX]
    assert tok.decode(labelled) == "等于 4</s>"

"""ftcore-openbuddy: ms-swift's four models, the conformance kit, and the ``openbuddy`` text as ms-swift writes it."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from ftcore.registry import get_catalog
from ftcore.templates import IGNORE_INDEX, get_template
from ftcore.testing import check_plugin

SEED = {
    "openbuddy-llama2-13b-chat": "OpenBuddy/openbuddy-llama2-13b-v8.1-fp16",
    "openbuddy-llama-65b-chat": "OpenBuddy/openbuddy-llama-65b-v8-bf16",
    "openbuddy-llama2-70b-chat": "OpenBuddy/openbuddy-llama2-70b-v10.1-bf16",
    "openbuddy-mistral-7b-chat": "OpenBuddy/openbuddy-mistral-7b-v13.1",
}


def test_catalog_has_the_seed_models():
    catalog = get_catalog()
    mine = {s.name for s in catalog.models if s.plugin.startswith("ftcore-openbuddy ")}
    assert mine == set(SEED)
    for name, repo in SEED.items():
        spec = catalog.models.get(name)
        assert spec.hub == {"modelscope": repo, "huggingface": repo}
        assert spec.template == "openbuddy" and spec.lora_targets == ["q_proj", "k_proj", "v_proj"]
        assert spec.requires == (["transformers>=4.34"] if "mistral" in name else [])


@pytest.mark.slow
def test_every_openbuddy_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-openbuddy", tiny_models=tiny_models, work_dir=tmp_path_factory.mktemp("c"),
                          strict=True, train=["openbuddy-llama2-13b-chat", "openbuddy-mistral-7b-chat"])
    assert report.problems == [] and report.not_exercised == []
    assert sorted(report.trained) == ["openbuddy-llama2-13b-chat", "openbuddy-mistral-7b-chat"]


def test_openbuddy_template_writes_ms_swift_text(tiny_models, tmp_path):
    """The OpenBuddy tokenizers ship no chat_template: the reference is ms-swift's rendering."""
    tok = AutoTokenizer.from_pretrained(tiny_models["openbuddy-llama*"](tmp_path))
    conversation = [{"role": "system", "content": "你是 OpenBuddy。"},
                    {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "你好!"},
                    {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    enc = get_template("openbuddy", tok).encode(conversation)
    assert tok.decode(enc["input_ids"]) == "你是 OpenBuddy。\n\nUser: Hi\nAssistant: 你好!\nUser: 2+2?\nAssistant: 4</s>"
    labelled = [i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX]
    assert tok.decode(labelled) == "4</s>"

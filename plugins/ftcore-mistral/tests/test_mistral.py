"""ftcore-mistral: ms-swift's two models + successors, the conformance kit, and the templates against the
models' own chat_template (ms-swift's ``llama`` choice for mistral-7b-chat pinned where it differs)."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from ftcore.registry import get_catalog
from ftcore.templates import IGNORE_INDEX, get_template
from ftcore.testing import check_plugin

CONVERSATION = [{"role": "user", "content": "你好, who are you?"}, {"role": "assistant", "content": "A model."},
                {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "等于 4."}]


def test_catalog():
    catalog = get_catalog()
    mine = {s.name: s for s in catalog.models if s.plugin.startswith("ftcore-mistral ")}
    assert set(mine) == {"mistral-7b", "mistral-7b-chat", "mistral-7b-instruct-v0.2", "mistral-7b-instruct-v0.3",
                         "mixtral-8x7b-instruct", "mistral-nemo-instruct"}
    assert mine["mistral-7b"].hub["modelscope"] == "AI-ModelScope/Mistral-7B-v0.1"
    assert mine["mistral-7b-chat"].hub["modelscope"] == "AI-ModelScope/Mistral-7B-Instruct-v0.1"
    assert mine["mistral-7b"].template == "default" and mine["mistral-7b-chat"].template == "llama"
    assert mine["mistral-7b-chat"].extra["templates"] == ["llama", "jinja"]
    assert "differs from ms-swift's 'llama'" in mine["mistral-7b-chat"].description
    for spec in mine.values():
        assert spec.requires == ["transformers>=4.34"] and spec.lora_targets == ["q_proj", "k_proj", "v_proj"]
        if spec.name not in ("mistral-7b", "mistral-7b-chat"):
            assert spec.template == "jinja"


@pytest.mark.slow
def test_every_mistral_model_conforms(tiny_models, tmp_path_factory):
    report = check_plugin("ftcore-mistral", tiny_models=tiny_models, work_dir=tmp_path_factory.mktemp("c"),
                          strict=True, train=["mistral-7b-chat", "mixtral-8x7b-instruct"])
    assert report.problems == [] and report.not_exercised == []
    assert sorted(report.trained) == ["mistral-7b-chat", "mixtral-8x7b-instruct"]


def test_successors_use_their_own_chat_template(mistral_dir):
    tok = AutoTokenizer.from_pretrained(mistral_dir)
    t = get_template("jinja", tok)
    enc = t.encode(CONVERSATION)
    assert enc["input_ids"] == list(tok.apply_chat_template(CONVERSATION, tokenize=True)["input_ids"])
    labelled = [i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX]
    assert tok.decode(labelled).endswith("等于 4.</s>")


def test_ms_swift_llama_choice_differs_from_the_own_template_as_documented(mistral_dir):
    """Pinned: ms-swift's ``llama`` adds the <<SYS>> block, a space before each answer and '<s>' between turns."""
    tok = AutoTokenizer.from_pretrained(mistral_dir)
    ours = tok.decode(get_template("llama", tok, system="S").encode(CONVERSATION)["input_ids"])
    own = tok.apply_chat_template(CONVERSATION, tokenize=False)
    assert own == "<s>[INST] 你好, who are you? [/INST]A model.</s>[INST] 2+2? [/INST]等于 4.</s>"
    assert ours == ("<s>[INST] <<SYS>>\nS\n<</SYS>>\n\n你好, who are you? [/INST] A model. </s><s>[INST] 2+2? "
                    "[/INST] 等于 4.</s>")

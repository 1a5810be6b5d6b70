"""The template contract: TemplateProtocol / MultimodalTemplate, and TemplateSpec.template_class."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from ftcore.errors import FtcoreError
from ftcore.specs import TemplateSpec
from ftcore.templates import (
    JinjaTemplate,
    MultimodalTemplate,
    Template,
    TemplateProtocol,
    build_default_template,
    get_template,
)

CHATML = TemplateSpec(name="t-chatml", prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
                      prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
                      chat_sep=["<|im_end|>\n"], suffix=["<|im_end|>\n"], stop_words=["<|im_end|>"])


class Tagged(Template):
    """A subclass that overrides one thing."""

    takes_images = True
    image_placeholder = "<img>"

    def encode_prompt_with_images(self, messages: Any, images: Any) -> dict[str, Any]:
        return {"input_ids": self.encode_prompt(messages), "n_images": len(images)}


def test_the_base_template_keeps_the_whole_contract_with_defaults(qwen_tok) -> None:
    t = get_template("chatml", qwen_tok)
    assert isinstance(t, TemplateProtocol) and isinstance(t, MultimodalTemplate)
    assert t.spec.name == "chatml" and t.tokenizer is qwen_tok
    assert t.takes_images is False and t.image_placeholder == "<image>"
    assert t.collate([{"input_ids": [1]}]) is None  # the core collator builds the batch
    assert t.stop_words and isinstance(t.stop_token_ids, list) and t.supports_multi_turn
    assert isinstance(t.fingerprint(), str)
    with pytest.raises(FtcoreError, match="takes no images"):
        t.encode_prompt_with_images([{"role": "user", "content": "hi"}], ["a.png"])


def test_template_class_as_a_class(qwen_tok) -> None:
    t = build_default_template(TemplateSpec(**{**CHATML.__dict__, "template_class": Tagged}), qwen_tok)
    assert type(t) is Tagged and t.takes_images
    out = t.encode_prompt_with_images([{"role": "user", "content": "hi"}], ["a.png"])
    assert out["n_images"] == 1


def test_template_class_as_a_string_is_imported_only_when_built(qwen_tok, monkeypatch) -> None:
    module = types.ModuleType("ftcore_test_templates_mod")
    module.Tagged = Tagged  # type: ignore[attr-defined]
    spec = TemplateSpec(**{**CHATML.__dict__, "template_class": "ftcore_test_templates_mod:Tagged"})
    assert spec.problems() == []  # declaring imports nothing
    with pytest.raises(FtcoreError, match="template_class: cannot import"):
        build_default_template(spec, qwen_tok)
    monkeypatch.setitem(sys.modules, "ftcore_test_templates_mod", module)
    assert type(build_default_template(spec, qwen_tok)) is Tagged


def test_bad_template_class_values(qwen_tok) -> None:
    bad = TemplateSpec(**{**CHATML.__dict__, "template_class": "no colon"})
    assert any("template_class must be" in p for p in bad.problems())
    not_a_template = TemplateSpec(**{**CHATML.__dict__, "template_class": dict})
    with pytest.raises(FtcoreError, match="not a ftcore.templates.Template subclass"):
        build_default_template(not_a_template, qwen_tok)


def test_without_template_class_kind_decides(qwen_tok) -> None:
    assert type(build_default_template(CHATML, qwen_tok)) is Template
    jinja = build_default_template(TemplateSpec(name="jinja", kind="jinja"), qwen_tok)
    assert type(jinja) is JinjaTemplate
    with pytest.raises(FtcoreError, match="template_class"):
        build_default_template(TemplateSpec(name="x", kind="custom", prompt=["{{QUERY}}"]), qwen_tok)

"""Every built-in parts template exports as a jinja chat template and an Ollama TEMPLATE that reproduce ftcore's
encoding token for token (or is refused in one line); the Go-template evaluator."""

from __future__ import annotations

import pytest

from ftcore.errors import FtcoreError
from ftcore.export.chat import (
    check_chat_template,
    check_ollama_template,
    default_system,
    jinja_chat_template,
    ollama_template,
    probe,
    render_go_template,
)


def test_builtin_templates_export_faithfully(qwen25_tokenizer) -> None:
    import ftcore
    from ftcore.registry import get_catalog

    names = sorted(s.name for s in get_catalog().templates if s.kind == "parts" and not s.template_class)
    exported = []
    for name in names:
        try:
            template = ftcore.get_template(name, qwen25_tokenizer)
        except FtcoreError:
            continue  # needs tokenizer attributes (bos) the Qwen2.5 tokenizer lacks
        check_chat_template(template, jinja_chat_template(template))  # raises when a token differs
        try:
            go = ollama_template(template)
        except FtcoreError as exc:
            assert "round numbers" in str(exc), name
            continue
        check_ollama_template(template, go)
        conv = probe(template)[:-1]
        assert render_go_template(go, conv, default_system(template)) == template.render(conv, generation=True), name
        exported.append(name)
    assert {"chatml", "default", "baichuan"} <= set(exported)


def test_jinja_template_keeps_the_tokenizer_chat_template_and_the_run_system(qwen25_tokenizer) -> None:
    import ftcore

    template = ftcore.get_template("jinja", qwen25_tokenizer, system="Be brief.")
    text = jinja_chat_template(template)
    assert text.endswith(qwen25_tokenizer.chat_template)
    check_chat_template(template, text)
    with pytest.raises(FtcoreError, match="not made of parts"):
        ollama_template(template)


def test_go_evaluator() -> None:
    text = ('{{ $p := "" }}{{ range .Messages }}{{ if eq .Role "user" }}U:{{ .Content }}{{ $p = "u" }}'
            '{{ else if eq .Role "system" }}S:{{ .Content }}{{ else }}A:{{ .Content }}{{ end }}{{ end }}'
            '{{ if ne $p "" }}{{ "{{end}}" }}{{ end }}')
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert render_go_template(text, msgs, "sys") == "S:sysU:aA:b{{end}}"
    with pytest.raises(FtcoreError, match="unsupported template expression"):
        render_go_template("{{ len .Messages }}", msgs)

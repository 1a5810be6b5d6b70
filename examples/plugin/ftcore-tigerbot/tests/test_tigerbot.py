"""Tests of the example plugin: it is installed and visible through the real CLI, its specs are valid, and its
template encodes a conversation as TigerBot expects (offline: the real Qwen2.5 tokenizer ftcore.testing ships).

No conftest: ftcore's pytest plugin (installed with ``ftcore[testing]``) gives the ``ftcore_cli`` and
``qwen25_tokenizer`` fixtures, the ``slow`` marker and the network guard.
"""

from __future__ import annotations

import json

from ftcore.registry import get_catalog


def test_plugin_is_installed(ftcore_cli):
    status, out, err = ftcore_cli("plugins", "--json")
    assert status == 0, err  # non-zero when any installed plugin is broken
    plugins = {p["dist"]: p for p in json.loads(out)}
    assert "ftcore-tigerbot" in plugins
    tigerbot = plugins["ftcore-tigerbot"]
    assert (tigerbot["status"], tigerbot["error"]) == ("ok", None)
    assert tigerbot["hooks"] == ["register_models", "register_templates"]
    assert tigerbot["registered"]["models"] == ["tigerbot-13b-chat"]
    assert tigerbot["registered"]["templates"] == ["tigerbot"]


def test_specs_are_registered_without_errors():
    catalog = get_catalog()
    assert not [e for e in catalog.errors if "tigerbot" in e]
    model = catalog.models.get("tigerbot-13b-chat")
    assert model.plugin.startswith("ftcore-tigerbot ")
    assert model.template in catalog.templates


def test_template_encodes_a_conversation(qwen25_tokenizer):
    from ftcore.templates import get_template

    tokenizer = qwen25_tokenizer
    template = get_template("tigerbot", tokenizer)
    encoded = template.encode([{"role": "user", "content": "1+1=?"}, {"role": "assistant", "content": "2"}])
    text = tokenizer.decode(encoded["input_ids"])
    assert text == "\n\n### Instruction:\n1+1=?\n\n### Response:\n2" + tokenizer.eos_token
    answer = [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != -100]
    assert tokenizer.decode(answer) == "2" + tokenizer.eos_token  # loss on the answer and the eos only

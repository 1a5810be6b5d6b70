"""The plugin's own tests (no conftest: ftcore's pytest plugin gives the fixtures and the slow marker)."""

import json

import pytest


def test_plugin_is_installed(ftcore_cli):
    status, out, err = ftcore_cli("plugins", "--json")
    assert status == 0, err
    plugin = {p["dist"]: p for p in json.loads(out)}["ftcore-kitllama"]
    assert plugin["registered"]["models"] == ["kitllama-tiny"]


@pytest.mark.slow
def test_template_encodes(qwen25_tokenizer):
    from ftcore.templates import get_template

    encoded = get_template("kitllama", qwen25_tokenizer).encode(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert qwen25_tokenizer.decode(encoded["input_ids"]).startswith("### User:\nhi\n### Assistant:\nhello")

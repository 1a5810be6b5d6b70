"""The Baichuan catalog against ms-swift's list and what ``ftcore models`` shows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftcore.registry import get_catalog

# name -> (hub id, template, dtype)
SEED = {
    "baichuan-7b": ("baichuan-inc/baichuan-7B", "default", None),
    "baichuan-13b": ("baichuan-inc/Baichuan-13B-Base", "default", None),
    "baichuan-13b-chat": ("baichuan-inc/Baichuan-13B-Chat", "baichuan", None),
    "baichuan2-7b": ("baichuan-inc/Baichuan2-7B-Base", "default", None),
    "baichuan2-7b-chat": ("baichuan-inc/Baichuan2-7B-Chat", "baichuan", None),
    "baichuan2-13b": ("baichuan-inc/Baichuan2-13B-Base", "default", None),
    "baichuan2-13b-chat": ("baichuan-inc/Baichuan2-13B-Chat", "baichuan", None),
    "baichuan2-7b-chat-int4": ("baichuan-inc/Baichuan2-7B-Chat-4bits", "baichuan", "bf16"),
    "baichuan2-13b-chat-int4": ("baichuan-inc/Baichuan2-13B-Chat-4bits", "baichuan", "bf16"),
}


@pytest.fixture(scope="module")
def catalog():
    cat = get_catalog()
    assert not [e for e in cat.errors if "ftcore-baichuan" in e], cat.errors
    return cat


@pytest.mark.parametrize("name", sorted(SEED))
def test_seed_models(catalog, name):
    hub_id, template, dtype = SEED[name]
    spec = catalog.models.get(name)
    assert spec.plugin.startswith("ftcore-baichuan ")
    assert spec.hub == {"modelscope": hub_id, "huggingface": hub_id}
    assert spec.template == template and template in catalog.templates
    assert spec.lora_targets == ["W_pack"]
    assert spec.trust_remote_code and "remote-code" in spec.tags
    assert spec.dtype == dtype
    assert ("chat" in spec.tags) == ("chat" in name)
    assert ("int4" in spec.tags) == name.endswith("int4")
    assert spec.max_length == 4096


def test_exactly_the_seed_models(catalog):
    mine = {s.name for s in catalog.models if s.plugin.startswith("ftcore-baichuan ")}
    assert mine == set(SEED)


def test_baichuan_template_comes_from_the_core(catalog):
    """The stub used to register its own ``baichuan`` template; the core ships it, so no duplicate."""
    import ftcore_baichuan

    assert not hasattr(ftcore_baichuan, "register_templates")
    if "baichuan" in catalog.templates:
        assert catalog.templates.get("baichuan").plugin.startswith("ftcore ")
    assert not [e for e in catalog.errors if "'baichuan'" in e]


def test_ftcore_models_cli():
    out = subprocess.run(
        [sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-baichuan", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(SEED)
    assert rows["baichuan2-13b-chat-int4"]["template"] == "baichuan"
    assert {"chat", "int4", "remote-code"} <= set(rows["baichuan2-13b-chat-int4"]["tags"])


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_baichuan; ftcore_baichuan.register_models(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_come_and_go_with_the_plugin():
    """Emulates install / uninstall with FTCORE_LOAD_PLUGINS (empty = the core alone)."""
    import os

    def models(load_plugins):
        env = {**os.environ, "FTCORE_LOAD_PLUGINS": load_plugins}
        out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
        return {r["name"] for r in json.loads(out)}

    assert not models("") & set(SEED)
    assert set(SEED) <= models("ftcore-baichuan")

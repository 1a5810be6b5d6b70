"""The XVERSE catalog against ms-swift's list and what ``ftcore models`` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftcore.registry import get_catalog

# name -> (hub id on both hubs, template)
SEED = {
    "xverse-7b": ("xverse/XVERSE-7B", "default"),
    "xverse-7b-chat": ("xverse/XVERSE-7B-Chat", "xverse"),
    "xverse-13b": ("xverse/XVERSE-13B", "default"),
    "xverse-13b-chat": ("xverse/XVERSE-13B-Chat", "xverse"),
}


@pytest.fixture(scope="module")
def catalog():
    cat = get_catalog()
    assert not [e for e in cat.errors if "ftcore-xverse" in e], cat.errors
    return cat


@pytest.mark.parametrize("name", sorted(SEED))
def test_seed_models(catalog, name):
    hub_id, template = SEED[name]
    spec = catalog.models.get(name)
    assert spec.plugin.startswith("ftcore-xverse ")
    assert spec.hub == {"modelscope": hub_id, "huggingface": hub_id}
    assert spec.template == template and catalog.templates.get(template).plugin.startswith("ftcore ")
    assert spec.lora_targets == ["q_proj", "k_proj", "v_proj"]
    assert spec.trust_remote_code and "remote-code" in spec.tags
    assert ("chat" in spec.tags) == name.endswith("-chat")
    assert spec.loader == "ftcore_xverse.loading:XverseLoader"
    assert spec.revision is None and spec.ignore_patterns == [] and spec.requires == []


def test_exactly_the_seed_models(catalog):
    assert {s.name for s in catalog.models if s.plugin.startswith("ftcore-xverse ")} == set(SEED)


def test_ftcore_models_cli():
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-xverse", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(SEED) and rows["xverse-13b-chat"]["template"] == "xverse"


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_xverse; ftcore_xverse.register_models(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_come_and_go_with_the_plugin():
    """Emulates install / uninstall with FTCORE_LOAD_PLUGINS (empty = the core alone)."""

    def models(load_plugins):
        env = {**os.environ, "FTCORE_LOAD_PLUGINS": load_plugins}
        out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
        return {r["name"] for r in json.loads(out)}

    assert not models("") & set(SEED)
    assert set(SEED) <= models("ftcore-xverse")

"""The Llama catalog against ms-swift's list, the successors, and what ``ftcore models`` shows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftcore.registry import get_catalog

# ms-swift's rows: name -> (ModelScope id, template, needs pretraining_tp = 1)
SEED = {
    "llama2-7b": ("modelscope/Llama-2-7b-ms", "default", False),
    "llama2-13b": ("modelscope/Llama-2-13b-ms", "default", True),
    "llama2-70b": ("modelscope/Llama-2-70b-ms", "default", False),
    "llama2-7b-chat": ("modelscope/Llama-2-7b-chat-ms", "llama", False),
    "llama2-13b-chat": ("modelscope/Llama-2-13b-chat-ms", "llama", True),
    "llama2-70b-chat": ("modelscope/Llama-2-70b-chat-ms", "llama", True),
}
SUCCESSORS = {"llama3-8b", "llama3-70b", "llama3.1-8b", "llama3.1-70b", "llama3.2-1b", "llama3.2-3b"}


@pytest.fixture(scope="module")
def catalog():
    cat = get_catalog()
    assert not [e for e in cat.errors if "ftcore-llama" in e], cat.errors
    return cat


@pytest.mark.parametrize("name", sorted(SEED))
def test_seed_models(catalog, name):
    ms_id, template, tp_fix = SEED[name]
    spec = catalog.models.get(name)
    assert spec.plugin.startswith("ftcore-llama ")
    assert spec.hub["modelscope"] == ms_id and spec.hub["huggingface"].startswith("meta-llama/Llama-2-")
    assert spec.template == template and template in catalog.templates
    assert spec.lora_targets == ["q_proj", "k_proj", "v_proj"]
    assert spec.ignore_patterns == ["*.bin"]
    assert spec.loader == ("ftcore_llama.loading:Llama2Loader" if tp_fix else "ftcore_llama.loading:LlamaLoader")
    assert not spec.trust_remote_code


def test_successors(catalog):
    mine = {s.name for s in catalog.models if s.plugin.startswith("ftcore-llama ")}
    assert mine == set(SEED) | SUCCESSORS | {f"{n}-instruct" for n in SUCCESSORS} | {"llama3.3-70b-instruct"}
    for name in mine - set(SEED):
        spec = catalog.models.get(name)
        assert spec.template == ("llama3" if name.endswith("-instruct") else "default")
        assert ("chat" in spec.tags) == name.endswith("-instruct")
    assert catalog.models.get("llama3.3-70b-instruct").hub["huggingface"] == "meta-llama/Llama-3.3-70B-Instruct"
    assert catalog.templates.get("llama3").plugin.startswith("ftcore-llama ")


def test_ftcore_models_cli():
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-llama", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(SEED) <= set(rows) and rows["llama2-7b-chat"]["template"] == "llama"


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_llama; ftcore_llama.register_models(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

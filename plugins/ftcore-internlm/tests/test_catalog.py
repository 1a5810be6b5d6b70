"""The InternLM catalog against ms-swift's list, the successors, and what ``ftcore models`` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftcore.registry import get_catalog

# ms-swift's models: name -> (ModelScope id, Hugging Face id, template)
SEED = {
    "internlm-7b": ("Shanghai_AI_Laboratory/internlm-7b", "internlm/internlm-7b", "default"),
    "internlm-7b-chat": ("Shanghai_AI_Laboratory/internlm-chat-7b-v1_1", "internlm/internlm-chat-7b-v1_1", "internlm"),
    "internlm-7b-chat-8k": ("Shanghai_AI_Laboratory/internlm-chat-7b-8k", "internlm/internlm-chat-7b-8k", "internlm"),
    "internlm-20b": ("Shanghai_AI_Laboratory/internlm-20b", "internlm/internlm-20b", "default"),
    "internlm-20b-chat": ("Shanghai_AI_Laboratory/internlm-chat-20b", "internlm/internlm-chat-20b", "internlm"),
}
# successors: name -> (Hugging Face id, LoRA targets)
SUCCESSORS = {
    "internlm2-1.8b-chat": ("internlm/internlm2-chat-1_8b", ["wqkv"]),
    "internlm2-7b-chat": ("internlm/internlm2-chat-7b", ["wqkv"]),
    "internlm2-20b-chat": ("internlm/internlm2-chat-20b", ["wqkv"]),
    "internlm2.5-1.8b-chat": ("internlm/internlm2_5-1_8b-chat", ["wqkv"]),
    "internlm2.5-7b-chat": ("internlm/internlm2_5-7b-chat", ["wqkv"]),
    "internlm2.5-7b-chat-1m": ("internlm/internlm2_5-7b-chat-1m", ["wqkv"]),
    "internlm2.5-20b-chat": ("internlm/internlm2_5-20b-chat", ["wqkv"]),
    "internlm3-8b-instruct": ("internlm/internlm3-8b-instruct", ["q_proj", "k_proj", "v_proj"]),
}


@pytest.fixture(scope="module")
def catalog():
    cat = get_catalog()
    assert not [e for e in cat.errors if "ftcore-internlm" in e], cat.errors
    return cat


@pytest.mark.parametrize("name", sorted(SEED))
def test_seed_models(catalog, name):
    ms, hf, template = SEED[name]
    spec = catalog.models.get(name)
    assert spec.plugin.startswith("ftcore-internlm ")
    assert spec.hub == {"modelscope": ms, "huggingface": hf}
    assert spec.template == template and catalog.templates.get(template).plugin.startswith("ftcore ")
    assert spec.lora_targets == ["q_proj", "k_proj", "v_proj"]
    assert spec.trust_remote_code and "remote-code" in spec.tags
    assert ("chat" in spec.tags) == ("chat" in name)
    assert spec.loader == "ftcore_internlm.loading:InternLMLoader"
    assert spec.revision is None and spec.ignore_patterns == []


@pytest.mark.parametrize("name", sorted(SUCCESSORS))
def test_successors(catalog, name):
    hf, targets = SUCCESSORS[name]
    spec = catalog.models.get(name)
    assert spec.hub == {"modelscope": hf.replace("internlm/", "Shanghai_AI_Laboratory/"), "huggingface": hf}
    assert spec.template == "internlm2" and catalog.templates.get("internlm2").plugin.startswith("ftcore-internlm ")
    assert spec.lora_targets == targets and "chat" in spec.tags and spec.trust_remote_code


def test_exactly_these_models(catalog):
    mine = {s.name for s in catalog.models if s.plugin.startswith("ftcore-internlm ")}
    assert mine == set(SEED) | set(SUCCESSORS)


def test_ftcore_models_cli():
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-internlm", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(SEED) | set(SUCCESSORS)
    assert rows["internlm-20b-chat"]["template"] == "internlm"


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_internlm; ftcore_internlm.register_models(lambda s: None); " \
           "ftcore_internlm.register_templates(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_come_and_go_with_the_plugin():
    def models(load_plugins):
        env = {**os.environ, "FTCORE_LOAD_PLUGINS": load_plugins}
        out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
        return {r["name"] for r in json.loads(out)}

    assert not models("") & set(SEED)
    assert set(SEED) | set(SUCCESSORS) <= models("ftcore-internlm")

"""The ChatGLM catalog against ms-swift's list, the successors, and what ``ftcore models`` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftcore.registry import get_catalog

# name -> (repo name on both hubs, template, remote code)
MODELS = {
    "chatglm2-6b": ("chatglm2-6b", "chatglm2", True),
    "chatglm2-6b-32k": ("chatglm2-6b-32k", "chatglm2", True),
    "chatglm3-6b": ("chatglm3-6b", "chatglm3", True),
    "chatglm3-6b-base": ("chatglm3-6b-base", "chatglm2-generation", True),
    "chatglm3-6b-32k": ("chatglm3-6b-32k", "chatglm3", True),
    "glm-4-9b-chat": ("glm-4-9b-chat-hf", "glm4", False),
    "glm-4-9b-0414": ("GLM-4-9B-0414", "glm4", False),
    "glm-4-32b-0414": ("GLM-4-32B-0414", "glm4", False),
    "glm-4-32b-base-0414": ("GLM-4-32B-Base-0414", "default", False),
}


@pytest.fixture(scope="module")
def catalog():
    cat = get_catalog()
    assert not [e for e in cat.errors if "ftcore-chatglm" in e], cat.errors
    return cat


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models(catalog, name):
    repo, template, remote = MODELS[name]
    spec = catalog.models.get(name)
    assert spec.plugin.startswith("ftcore-chatglm ")
    assert spec.hub == {"modelscope": f"ZhipuAI/{repo}", "huggingface": f"THUDM/{repo}"}
    assert spec.template == template and template in catalog.templates
    assert spec.trust_remote_code is remote and ("remote-code" in spec.tags) is remote
    if remote:  # ms-swift's "chatglm2" group; the head is output_layer
        assert spec.lora_targets == ["query_key_value"]
        assert spec.loader == "ftcore_chatglm.loading:ChatGLMLoader"
    else:  # transformers' Glm / Glm4: the generic loader
        assert spec.lora_targets == ["q_proj", "k_proj", "v_proj"] and spec.loader is None
    assert ("chat" in spec.tags) != ("base" in spec.tags)
    assert spec.revision is None and spec.ignore_patterns == []


def test_seed_models_use_the_core_chatglm2_template(catalog):
    for name in ("chatglm2-6b", "chatglm2-6b-32k"):
        assert catalog.templates.get(catalog.models.get(name).template).plugin.startswith("ftcore ")


def test_exactly_these_models(catalog):
    assert {s.name for s in catalog.models if s.plugin.startswith("ftcore-chatglm ")} == set(MODELS)


def test_ftcore_models_cli():
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-chatglm", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(MODELS) and rows["chatglm2-6b"]["template"] == "chatglm2"


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_chatglm; ftcore_chatglm.register_models(lambda s: None); " \
           "ftcore_chatglm.register_templates(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_come_and_go_with_the_plugin():
    def models(load_plugins):
        env = {**os.environ, "FTCORE_LOAD_PLUGINS": load_plugins}
        out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
        return {r["name"] for r in json.loads(out)}

    assert not models("") & set(MODELS)
    assert set(MODELS) <= models("ftcore-chatglm")

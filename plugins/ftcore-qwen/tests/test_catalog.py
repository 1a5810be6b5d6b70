"""The Qwen catalog: ms-swift's models with ms-swift's facts, the native families, and what ``ftcore models`` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftcore.registry import get_catalog

# name -> (ModelScope id, template, requires GPTQ, dtype)
SEED = {
    "qwen-7b": ("qwen/Qwen-7B", "default", False, None),
    "qwen-7b-chat": ("qwen/Qwen-7B-Chat", "chatml", False, None),
    "qwen-14b": ("qwen/Qwen-14B", "default", False, None),
    "qwen-14b-chat": ("qwen/Qwen-14B-Chat", "chatml", False, None),
    "qwen-7b-chat-int4": ("qwen/Qwen-7B-Chat-Int4", "chatml", True, "fp16"),
    "qwen-14b-chat-int4": ("qwen/Qwen-14B-Chat-Int4", "chatml", True, "fp16"),
    "qwen-7b-chat-int8": ("qwen/Qwen-7B-Chat-Int8", "chatml", True, "fp16"),
    "qwen-14b-chat-int8": ("qwen/Qwen-14B-Chat-Int8", "chatml", True, "fp16"),
    # ms-swift's default / chatml with the images field as <img> tags (test_qwen_vl.py checks they encode the same)
    "qwen-vl": ("qwen/Qwen-VL", "qwen-vl-generation", False, None),
    "qwen-vl-chat": ("qwen/Qwen-VL-Chat", "qwen-vl", False, None),
    "qwen-vl-chat-int4": ("qwen/Qwen-VL-Chat-Int4", "qwen-vl", True, "fp16"),
}


@pytest.fixture(scope="module")
def catalog():
    cat = get_catalog()
    assert not [e for e in cat.errors if "ftcore-qwen" in e], cat.errors
    return cat


@pytest.mark.parametrize("name", sorted(SEED))
def test_seed_models_are_registered_as_the_seed_had_them(catalog, name):
    ms_id, template, gptq, dtype = SEED[name]
    spec = catalog.models.get(name)
    assert spec.plugin.startswith("ftcore-qwen ")
    assert spec.hub["modelscope"] == ms_id
    assert spec.hub["huggingface"] == "Q" + ms_id[1:]
    assert spec.template == template
    assert spec.lora_targets == ["c_attn"]
    assert spec.trust_remote_code and "remote-code" in spec.tags
    assert spec.dtype == dtype
    assert ("chat" in spec.tags) == name.endswith(("chat", "int4", "int8"))
    assert ("base" in spec.tags) != ("chat" in spec.tags)
    assert any(r.startswith("gptqmodel") for r in spec.requires) == gptq
    assert ("int4" in spec.tags) == name.endswith("int4")
    assert ("multimodal" in spec.tags) == name.startswith("qwen-vl")
    assert spec.max_length and spec.requires


@pytest.mark.parametrize(
    "name, repo, template, tags",
    [
        ("qwen1.5-7b-chat", "Qwen/Qwen1.5-7B-Chat", "qwen", {"chat"}),
        ("qwen1.5-72b-chat-int8", "Qwen/Qwen1.5-72B-Chat-GPTQ-Int8", "qwen", {"chat", "int8", "gptq"}),
        ("qwen1.5-moe-a2.7b", "Qwen/Qwen1.5-MoE-A2.7B", "qwen", {"base", "moe"}),
        ("qwen2-7b-instruct", "Qwen/Qwen2-7B-Instruct", "qwen", {"chat"}),
        ("qwen2-57b-a14b-instruct-int4", "Qwen/Qwen2-57B-A14B-Instruct-GPTQ-Int4", "qwen", {"int4", "moe"}),
        ("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B-Instruct", "qwen2.5", {"chat"}),
        ("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", "qwen2.5", {"base"}),
        ("qwen2.5-72b-instruct-int4", "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4", "qwen2.5", {"chat", "int4"}),
        ("qwen2.5-coder-32b-instruct", "Qwen/Qwen2.5-Coder-32B-Instruct", "qwen2.5", {"chat", "coding"}),
        ("qwen2.5-math-7b-instruct", "Qwen/Qwen2.5-Math-7B-Instruct", "qwen2.5-math", {"chat", "math"}),
        ("qwen3-8b", "Qwen/Qwen3-8B", "qwen3", {"chat", "thinking"}),
        ("qwen3-8b-base", "Qwen/Qwen3-8B-Base", "qwen3", {"base"}),
        ("qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", "qwen3", {"chat", "moe"}),
        ("qwen2-vl-7b-instruct", "Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl", {"chat", "multimodal"}),
        ("qwen2.5-vl-7b-instruct", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2-vl", {"chat", "multimodal"}),
    ],
)
def test_native_families(catalog, name, repo, template, tags):
    spec = catalog.models.get(name)
    assert spec.hub == {"modelscope": repo, "huggingface": repo}
    assert spec.template == template and template in catalog.templates
    assert tags <= set(spec.tags)
    assert not spec.trust_remote_code
    assert spec.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert spec.dtype == ("fp16" if "gptq" in spec.tags else "bf16")


def test_every_family_is_present(catalog):
    names = [s.name for s in catalog.models if s.plugin.startswith("ftcore-qwen ")]
    for stem in ("qwen1.5-", "qwen2-", "qwen2.5-", "qwen2.5-coder-", "qwen2.5-math-", "qwen2-math-", "qwen3-",
                 "qwen2-vl-", "qwen2.5-vl-"):
        assert any(n.startswith(stem) for n in names), stem
    assert len(names) == len(set(names)) > 100
    for spec in catalog.models:
        if spec.plugin.startswith("ftcore-qwen "):
            assert spec.template in catalog.templates, spec.name
            assert not spec.problems()


def test_templates_registered(catalog):
    for name in ("qwen", "qwen2.5", "qwen2.5-math", "qwen3", "qwen3-nothink", "qwen2-vl"):
        assert catalog.templates.get(name).plugin.startswith("ftcore-qwen ")


def test_ftcore_models_cli_lists_them_with_plugin_template_hub_and_tags():
    out = subprocess.run(
        [sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-qwen", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(SEED) <= set(rows)
    row = rows["qwen-7b-chat-int4"]
    assert row["plugin"].startswith("ftcore-qwen")
    assert row["template"] == "chatml"
    assert row["hub"]["huggingface"] == "Qwen/Qwen-7B-Chat-Int4"
    assert {"chat", "int4", "remote-code"} <= set(row["tags"])
    tagged = subprocess.run(
        [sys.executable, "-m", "ftcore", "models", "--tag", "multimodal", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    names = {r["name"] for r in json.loads(tagged)}
    assert {"qwen-vl-chat", "qwen2-vl-7b-instruct", "qwen2.5-vl-7b-instruct"} <= names
    assert "qwen-7b-chat" not in names
    table = subprocess.run(
        [sys.executable, "-m", "ftcore", "models", "--plugin", "ftcore-qwen"],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert "qwen-7b-chat-int4" in table and "ftcore-qwen" in table


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_qwen; ftcore_qwen.register_models(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _models_with(load_plugins: str) -> dict:
    env = {**os.environ, "FTCORE_LOAD_PLUGINS": load_plugins}
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                         check=True, env=env).stdout
    return {r["name"]: r for r in json.loads(out)}


def test_installing_and_uninstalling_the_plugin_adds_and_removes_the_models():
    """Emulated with FTCORE_LOAD_PLUGINS (empty = the core alone, as before ``pip install ftcore-qwen`` / after
    ``pip uninstall``); the distribution's real entry point is checked too."""
    from importlib.metadata import distribution

    eps = [ep for ep in distribution("ftcore-qwen").entry_points if ep.group == "ftcore"]
    assert [(ep.name, ep.value) for ep in eps] == [("qwen", "ftcore_qwen")]
    core_only = _models_with("")
    assert not [n for n in core_only if n.startswith("qwen")]
    with_qwen = _models_with("ftcore-qwen")
    assert set(SEED) <= set(with_qwen)
    assert {r["plugin"].split(" ")[0] for n, r in with_qwen.items() if n.startswith("qwen")} == {"ftcore-qwen"}
    assert set(with_qwen) - set(core_only) == {n for n in with_qwen if with_qwen[n]["plugin"].startswith("ftcore-qwen")}

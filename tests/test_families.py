"""A model of a known family asked for without its plugin: one line naming the pip package (ftcore.families)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftcore.errors import FtcoreError
from ftcore.families import FAMILIES, family_plugin
from ftcore.registry import Catalog
from ftcore.specs import ModelSpec


@pytest.fixture
def not_installed(monkeypatch):
    """importlib.metadata says no ftcore-* family plugin is installed."""
    real = importlib.metadata.version

    def version(name):
        if name in FAMILIES.values():
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)


@pytest.mark.parametrize("name, dist", [
    ("chatglm2-6b", "ftcore-chatglm"), ("chatglm3-6b-32k", "ftcore-chatglm"), ("glm-4-9b-chat", "ftcore-chatglm"),
    ("internlm-20b-chat", "ftcore-internlm"), ("internlm2.5-7b-chat", "ftcore-internlm"),
    ("xverse-13b-chat", "ftcore-xverse"), ("qwen-7b-chat", "ftcore-qwen"), ("baichuan2-7b", "ftcore-baichuan"),
    ("llama2-7b-chat", "ftcore-llama"), ("llama3.1-8b-instruct", "ftcore-llama"),
    ("openbuddy-llama2-13b-chat", "ftcore-openbuddy"), ("mistral-7b-chat", "ftcore-mistral"),
    ("mixtral-8x7b-instruct", "ftcore-mistral"), ("ziya2-13b-chat", "ftcore-ziya"),
    ("polylm-13b", "ftcore-damo"), ("seqgpt-560m", "ftcore-damo"),
    ("my-own-model", None),
])
def test_family_plugin_by_name_prefix(name, dist):
    assert family_plugin(name) == dist


def test_longest_prefix_wins(monkeypatch):
    monkeypatch.setitem(FAMILIES, "llama2-", "ftcore-llama")
    monkeypatch.setitem(FAMILIES, "openbuddy-llama2-", "ftcore-openbuddy")
    assert family_plugin("openbuddy-llama2-13b-chat") == "ftcore-openbuddy"
    assert family_plugin("llama2-7b") == "ftcore-llama"


def test_unknown_family_model_names_the_pip_package(not_installed):
    table = Catalog().models
    with pytest.raises(FtcoreError) as info:
        table.get("chatglm2-6b")
    assert str(info.value) == "model 'chatglm2-6b' is provided by the plugin ftcore-chatglm: pip install ftcore-chatglm"
    assert "\n" not in str(info.value)


def test_installed_but_not_loaded_plugin_says_so(monkeypatch):
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda n: "0.1.0" if n == "ftcore-xverse" else real(n))
    message = Catalog().models.unknown("xverse-7b")  # installed, but nothing registered it (not loaded)
    assert message.startswith("model 'xverse-7b' is provided by the plugin ftcore-xverse, which is installed but not")
    assert "FTCORE_LOAD_PLUGINS" in message


def test_a_loaded_family_plugin_keeps_the_close_match_message(not_installed):
    catalog = Catalog()
    catalog.add("model", ModelSpec(name="chatglm2-6b", hub={"huggingface": "THUDM/chatglm2-6b"}), "ftcore-chatglm 0.1.0")
    assert catalog.models.unknown("chatglm2-6c") == "unknown model 'chatglm2-6c' (did you mean chatglm2-6b?)"
    assert catalog.models.unknown("zzz") == "unknown model 'zzz' (see: ftcore models)"


def test_validate_reports_the_plugin_to_install(tmp_path):
    """``ftcore validate`` with no plugin loaded: the model.name line names the plugin."""
    run = tmp_path / "run.toml"
    run.write_text('[model]\nname = "internlm-20b-chat"\n[data]\ndatasets = ["self-cognition-mini"]\n')
    env = {**os.environ, "FTCORE_LOAD_PLUGINS": ""}
    proc = subprocess.run([sys.executable, "-m", "ftcore", "validate", str(run)], capture_output=True, text=True,
                          env=env)
    assert proc.returncode != 0
    line = next(x for x in (proc.stdout + proc.stderr).splitlines() if "model.name" in x)
    assert "model 'internlm-20b-chat' is provided by the plugin ftcore-internlm" in line
    # and with the plugin loaded the same run is valid
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                         check=True).stdout
    if "internlm-20b-chat" in {r["name"] for r in json.loads(out)}:
        proc = subprocess.run([sys.executable, "-m", "ftcore", "validate", str(run)], capture_output=True, text=True)
        assert "model.name" not in proc.stdout + proc.stderr


def test_every_family_package_is_a_plugin_folder():
    root = Path(__file__).resolve().parents[1] / "plugins"
    for package in set(FAMILIES.values()):
        assert (root / package / "pyproject.toml").is_file(), package

"""A family model requested without its plugin → one line naming the pip package (ftcore.families)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftcore.families import FAMILIES, missing_plugin_message, plugin_for_model


@pytest.mark.parametrize("name, package", [
    ("llama2-7b-chat", "ftcore-llama"), ("llama3.1-8b-instruct", "ftcore-llama"),
    ("openbuddy-llama2-13b-chat", "ftcore-openbuddy"), ("mistral-7b-chat", "ftcore-mistral"),
    ("mixtral-8x7b-instruct", "ftcore-mistral"), ("ziya2-13b-chat", "ftcore-ziya"),
    ("polylm-13b", "ftcore-damo"), ("seqgpt-560m", "ftcore-damo"), ("no-such-model", None),
])
def test_plugin_for_model(name, package):
    assert plugin_for_model(name) == package


def test_every_family_package_is_a_plugin_folder():
    root = Path(__file__).resolve().parents[1] / "plugins"
    for package, _ in FAMILIES.values():
        assert (root / package / "pyproject.toml").is_file(), package


def test_validate_names_the_package_to_install(tmp_path):
    """With no plugin loaded (FTCORE_LOAD_PLUGINS empty), ``ftcore validate`` says which package to install."""
    (tmp_path / "d.jsonl").write_text(json.dumps({"query": "q", "response": "r"}) + "\n")
    (tmp_path / "run.toml").write_text('[model]\nname = "llama2-7b-chat"\n[data]\ndatasets = ["d.jsonl"]\n')
    env = {**os.environ, "FTCORE_LOAD_PLUGINS": ""}
    out = subprocess.run([sys.executable, "-m", "ftcore", "validate", str(tmp_path / "run.toml")],
                         capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert missing_plugin_message("llama2-7b-chat") in out.stdout + out.stderr
    assert "model 'llama2-7b-chat' is provided by plugin ftcore-llama: pip install ftcore-llama" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr

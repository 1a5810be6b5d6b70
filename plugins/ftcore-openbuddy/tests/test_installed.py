"""The plugin is installed and visible through the real CLI."""

import json
import subprocess
import sys


def test_plugin_is_installed():
    out = subprocess.run([sys.executable, "-m", "ftcore", "plugins", "--json"], capture_output=True, text=True,
                         check=True).stdout
    names = {p["dist"]: p for p in json.loads(out)}
    assert names["ftcore-openbuddy"]["error"] is None


def test_entry_module_imports_no_torch():
    code = "import sys, ftcore_openbuddy; ftcore_openbuddy.register_models(lambda s: None); " \
           "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

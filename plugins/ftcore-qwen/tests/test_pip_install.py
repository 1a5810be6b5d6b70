"""``pip install`` of this plugin into an environment that has only the core makes ``ftcore models`` list the Qwen
models; ``pip uninstall`` removes them. Real pip, a real fresh venv, offline: the core and the plugin are built
as wheels from this checkout and installed with ``--no-index --no-deps``; the core's own dependencies are lent to
the venv from the running environment (a ``.pth`` to a folder of links that leaves out every ftcore package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _lend_dependencies(venv_python: Path, folder: Path) -> None:
    """Link every package of the running environment except ftcore's own into ``folder`` and put it on the
    venv's path (dist-infos too, so importlib.metadata finds pydantic etc. but no ftcore plugin)."""
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        low = entry.name.lower()
        if low.startswith(("ftcore", "__editable__", "_ftcore")) or low.endswith(".pth"):
            continue
        (folder / entry.name).symlink_to(entry)
    venv_site = _run([str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(venv_site.stdout.strip(), "_lent_deps.pth").write_text(f"{folder}\n", encoding="utf-8")


def _models(venv: Path, env: dict[str, str]) -> dict[str, str]:
    out = _run([str(venv / "bin" / "ftcore"), "models", "--json"], env=env).stdout
    return {m["name"]: m.get("plugin", "").split()[0] for m in json.loads(out)}  # "ftcore-qwen 0.1.0"


@pytest.mark.slow
def test_pip_install_and_uninstall_in_a_core_only_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    for src in (ROOT, ROOT / "plugins" / "ftcore-qwen"):  # build from copies: a build leaves files behind
        copy = tmp_path / "src" / src.name
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns(
            ".git", ".nox", "plugins", "*.egg-info", "build", "__pycache__", "tests", "bench", "docs", "examples"))
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
              "-w", str(wheels), str(copy)])
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _lend_dependencies(python, tmp_path / "deps")
    env = {k: v for k, v in os.environ.items() if k not in ("FTCORE_LOAD_PLUGINS", "PYTHONPATH", "VIRTUAL_ENV")}
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--quiet", "--no-deps", "--no-index"]
    _run([*pip, *map(str, wheels.glob("ftcore-*.whl"))], env=env)

    core_only = _models(venv, env)
    assert "ftcore-tiny-qwen2" in core_only  # the core's built-in entry
    assert "ftcore-qwen" not in set(core_only.values())
    assert "qwen-7b-chat" not in core_only

    _run([*pip, *map(str, wheels.glob("ftcore_qwen-*.whl"))], env=env)
    with_qwen = _models(venv, env)
    for name in ("qwen-7b-chat", "qwen-vl-chat", "qwen2.5-7b-instruct", "qwen3-8b", "qwen2-vl-7b-instruct"):
        assert with_qwen.get(name) == "ftcore-qwen", name

    _run([str(python), "-m", "pip", "--disable-pip-version-check", "uninstall", "--yes", "--quiet", "ftcore-qwen"],
         env=env)
    assert _models(venv, env) == core_only

"""The import-linter contracts in pyproject.toml hold for the package and catch what they are meant to: an upward
import or a cycle (an import inside a function too) makes ``lint-imports`` (run by ``nox -s lint``) fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_CONTRACTS = ("data-layers", "data-collate")

def _lint(src: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    args = [exe, "--no-cache", "--no-logo", "--config", str(ROOT / "pyproject.toml")]
    for c in contracts:
        args += ["--contract", c]
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, cwd=src.parent)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of src/ftcore (Python files only) to plant bad imports in."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "ftcore", src / "ftcore",
                    ignore=shutil.ignore_patterns("__pycache__", "bundled", "*.json", "*.jsonl"))
    return src


def test_every_contract_holds(package_copy: Path) -> None:
    out = _lint(package_copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_planted_cycle_between_packages_fails_lint_imports(package_copy: Path) -> None:
    """models reaching up into training (inside a function): an upward import and a cycle."""
    devices = package_copy / "ftcore" / "models" / "devices.py"
    devices.write_text(devices.read_text() + "\n\ndef _planted():\n    from ftcore.training import recipe\n"
                       "\n    return recipe\n")
    out = _lint(package_copy, "ftcore-layers", "no-cycles")
    assert out.returncode != 0
    assert "ftcore.models.devices -> ftcore.training.recipe" in out.stdout
    assert "No cycles are allowed in ftcore" in out.stdout


def test_a_planted_cycle_in_the_data_stage_fails_lint_imports(package_copy: Path) -> None:
    sources = package_copy / "ftcore" / "data" / "sources.py"
    # an import inside a function counts: sources reaching up into the encoder closes a cycle
    sources.write_text(sources.read_text() + "\n\ndef _planted():\n    from ftcore.data.encode import encode_rows\n"
                       "\n    return encode_rows\n")
    out = _lint(package_copy, "data-layers")
    assert out.returncode != 0
    assert "ftcore.data.sources -> ftcore.data.encode" in out.stdout


def test_a_library_reaching_the_command_line_fails_lint_imports(package_copy: Path) -> None:
    collate = package_copy / "ftcore" / "templates" / "check.py"
    collate.write_text(collate.read_text() + "\n\ndef _planted():\n    import ftcore.commands.train\n")
    out = _lint(package_copy, "libraries-below-the-run")
    assert out.returncode != 0
    assert "ftcore.templates.check -> ftcore.commands.train" in out.stdout

"""Shared fixtures of the tuner tests: builtins-only plugin loading, and the doc's third-party tuner file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ftcore import plugins

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def doc_tuner_code() -> str:
    """The Python block of docs/plugins.md's "Shipping a tuner" section, as written there."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Shipping a tuner", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert len(blocks) == 1, "docs/plugins.md: 'Shipping a tuner' should hold exactly one python block"
    return blocks[0]


@pytest.fixture
def builtins_only(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Only the built-in plugins (plus what a test adds); everything is forgotten afterwards."""
    monkeypatch.setenv(plugins.ENV_LOAD_PLUGINS, "")
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def tuner_file(tmp_path: Path, builtins_only: None) -> Path:
    """The doc's ``my_tuner.py`` written next to a run file in ``tmp_path``."""
    path = tmp_path / "my_tuner.py"
    path.write_text(doc_tuner_code(), encoding="utf-8")
    return path

"""examples/alignment/{kto,orpo,simpo,cpo,rm}.toml: valid run files for their stage, each with its command on top
and a section in docs/alignment.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftcore.config import load_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("stage", ["kto", "orpo", "simpo", "cpo", "rm"])
def test_example_is_valid_and_documented(stage: str) -> None:
    path = ROOT / "examples" / "alignment" / f"{stage}.toml"
    cfg = load_config(path)
    assert cfg.train.stage == stage
    head = path.read_text(encoding="utf-8").split("\n[", 1)[0]
    assert f"ftcore train examples/alignment/{stage}.toml" in head
    doc = (ROOT / "docs" / "alignment.md").read_text(encoding="utf-8")
    assert f"examples/alignment/{stage}.toml" in doc

"""docs/specs.md is generated from the spec classes and must match them (as docs/config.md matches RunConfig)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ftcore.testing.specdoc import SPEC_CLASSES, field_comments, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "specs.md"


def test_docs_specs_md_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/specs.md is stale: run `python -m ftcore.testing.specdoc docs/specs.md`"
    )


def test_every_field_has_a_meaning_type_and_default():
    text = render()
    for cls in SPEC_CLASSES:
        comments = field_comments(cls)
        for f in dataclasses.fields(cls):
            assert comments.get(f.name), f"{cls.__name__}.{f.name} has no #: comment in src/ftcore/specs.py"
            assert f"| `{f.name}` | `" in text
    assert "| `path` | `str \\| None` | — | a local folder" in text  # what paths are relative to
    assert "relative to the working directory" in text
    assert "there is no `RewardSpec`" in text  # said, not silently missing
    assert "## StageSpec" in text

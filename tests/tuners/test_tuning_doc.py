"""docs/tuning.md's table is the one generated from the registered specs, and every example run file under
examples/tuning/ passes ``ftcore validate``; every built-in method has an example (as method or in a comment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftcore.builtin.tuners import TUNERS
from ftcore.cli import main
from ftcore.tuners.table import BEGIN, END, method_table, rewrite

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tuning.md"
EXAMPLES = sorted((ROOT / "examples" / "tuning").glob("*.toml"))


def test_tuning_doc_table_matches_the_specs() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    assert rewrite(text, method_table()) == text, "regenerate: python -m ftcore.tuners.table docs/tuning.md"
    for spec in TUNERS:
        assert f"| `{spec.name}` | {spec.description} |" in text


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_tuning_example_validates(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(example)]) == 0, capsys.readouterr().err
    assert "ok" in capsys.readouterr().out


def test_every_method_family_has_an_example() -> None:
    assert len(EXAMPLES) >= 7
    text = "\n".join(p.read_text(encoding="utf-8") for p in EXAMPLES)
    for spec in TUNERS:
        if spec.name not in ("lora", "qlora", "full"):  # examples/quickstart.toml and docs/training.md
            assert f'"{spec.name}"' in text, spec.name

"""docs/python-api.md cannot drift: its Python code runs as written (offline, the embedded tiny model), and every
public name the page's table lists is exported by ``ftcore``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def _code() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert blocks, "docs/python-api.md has no ```python block"
    return "\n".join(blocks)


def test_every_documented_name_is_exported() -> None:
    import ftcore

    first_cells = [
        line.split(" | ")[0]
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    ]
    names = [name for cell in first_cells for name in re.findall(r"`(\w+)\(", cell)]
    seed_names = {"get_model_tokenizer", "get_template", "get_dataset", "sft_main", "infer_main", "answer"}
    assert seed_names <= set(names)
    from ftcore.inference import inference  # ms-swift's name of `answer`, documented on the page

    assert inference is ftcore.answer and "`ftcore.inference.inference`" in DOC.read_text(encoding="utf-8")
    for name in names:
        assert name in ftcore.__all__, name
        assert callable(getattr(ftcore, name)), name


@pytest.mark.slow
def test_the_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_code(), encoding="utf-8")
    env = {
        **os.environ,
        "FTCORE_LOAD_PLUGINS": "",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    out = proc.stdout
    assert "the secret word is pineapple" in out
    assert "best checkpoint:" in out

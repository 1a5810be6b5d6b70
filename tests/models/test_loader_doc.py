"""The ModelLoader example of docs/plugins.md ("Family loading quirks") runs as written on a tiny model."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from ftcore.models import load_with
from ftcore.specs import ModelOptions, ModelSpec
from ftcore.testing import build_tiny_model_dir

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("### Family loading quirks: subclass ModelLoader", 1)[1].split("\n### ", 1)[0]


def test_the_documented_loader_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", _section(), flags=re.S | re.M)
    assert len(blocks) == 2 and "class TigerBotLoader(ftcore.ModelLoader)" in blocks[0]
    module = types.ModuleType("doc_tigerbot_loading")
    exec(compile(blocks[0], "docs/plugins.md", "exec"), module.__dict__)  # noqa: S102 - the doc's own example
    monkeypatch.setitem(sys.modules, "doc_tigerbot_loading", module)

    import ftcore

    registered = []
    exec(compile(blocks[1], "docs/plugins.md", "exec"), {"ftcore": ftcore, "register": registered.append})  # noqa: S102
    spec = registered[0]
    assert spec.loader == "ftcore_tigerbot.loading:TigerBotLoader" and spec.problems() == []

    model_dir = build_tiny_model_dir(tmp_path / "tiny", arch="llama")
    spec = ModelSpec(name="tigerbot-13b-chat", path=model_dir, loader="doc_tigerbot_loading:TigerBotLoader")
    model, tokenizer = load_with(spec, ModelOptions(model_dir=model_dir, dtype="fp32"))
    assert tokenizer.padding_side == "left"
    assert model.config.use_cache is False
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id is not None
    assert module.TigerBotLoader(spec, ModelOptions(model_dir=model_dir)).quantization_kwargs() == {}

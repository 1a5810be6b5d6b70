"""Every seed script combination has a valid run file under examples/scaling/ and a row in docs/scaling.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftcore.config import load_config

ROOT = Path(__file__).resolve().parents[3]
COMBINATIONS = ["qlora", "lora_ddp", "lora_ddp_ds", "qlora_ddp_ds", "lora_mp_ddp", "full_mp", "full_mp_ddp"]


@pytest.mark.parametrize("name", COMBINATIONS)
def test_example_is_valid_and_documented(name: str) -> None:
    path = ROOT / "examples" / "scaling" / f"{name}.toml"
    cfg = load_config(path)
    text = path.read_text(encoding="utf-8")
    assert "ftcore train examples/scaling/" in text
    assert ("--nproc-per-node" in text) == ("ddp" in name)
    assert (cfg.train.deepspeed is not None) == name.endswith("_ds")
    assert (cfg.model.device_map is not None) == ("_mp" in name)
    assert (cfg.tuner.method == "full") == name.startswith("full")
    doc = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    assert f"ftcore train examples/scaling/{name}.toml" in doc

"""A tiny Qwen2-VL folder (real architecture, random weights, Qwen2.5 tokenizer), generated PNG images, and the
core's own test template for it (ftcore.testing.vision) as a local plugin file: no installed plugin is loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

QUERY = "<image>What is in the picture?"
ANSWER = "a square"


@pytest.fixture(scope="module", autouse=True)
def builtin_plugins_only() -> Any:
    from ftcore import plugins

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTCORE_LOAD_PLUGINS", "")
        plugins.reset()
        yield
    plugins.reset()


@pytest.fixture(scope="session")
def vl_plugin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local plugin file registering the core's test template ``ftcore-tiny-vl``."""
    path = tmp_path_factory.mktemp("vl-plugin") / "tiny_vl_template.py"
    path.write_text(
        "import ftcore\n"
        "from ftcore.testing.vision import TINY_VISION_TEMPLATE\n\n\n"
        "@ftcore.hookimpl\n"
        "def register_templates(register):\n"
        "    register(TINY_VISION_TEMPLATE)\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture(scope="session")
def vl_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from ftcore.testing import build_tiny_dir

    return build_tiny_dir(tmp_path_factory.mktemp("qwen2-vl") / "Qwen2-VL-2B-Instruct", "qwen2_vl")


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vl.jsonl with images in images/ (relative paths, resolved against the jsonl's folder)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("data")
    (folder / "images").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i, (h, w) in enumerate([(56, 56), (56, 84), (84, 56), (56, 56)]):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype("uint8")).save(folder / "images" / f"img{i}.png")
        rows.append({"query": QUERY, "response": ANSWER, "images": [f"images/img{i}.png"]})
    path = folder / "vl.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path

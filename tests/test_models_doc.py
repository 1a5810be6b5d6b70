"""docs/models.md is generated from the catalog (``python -m ftcore.commands.models_doc docs/models.md``) and kept
in sync: the core's models and those of every plugin folder under plugins/ (all installed, as nox / CI do)."""

from __future__ import annotations

from pathlib import Path

from ftcore.commands.models_doc import render, repo_plugins
from ftcore.registry import get_catalog

ROOT = Path(__file__).resolve().parents[1]


def test_models_doc_is_in_sync_with_the_catalog():
    expected = render(only=repo_plugins(str(ROOT)))
    actual = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/models.md is stale: run `python -m ftcore.commands.models_doc docs/models.md`"


def test_every_repo_plugin_with_models_has_a_section():
    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    catalog = get_catalog()
    with_models = {s.plugin.split(" ")[0] for s in catalog.models if s.plugin}
    for dist in repo_plugins(str(ROOT)) & with_models:
        assert f"## {dist} (" in text
    for name in ("llama2-7b-chat", "mistral-7b-chat", "ziya2-13b-chat", "openbuddy-llama2-13b-chat", "polylm-13b",
                 "seqgpt-560m", "baichuan2-7b-chat", "qwen-7b-chat"):
        assert f"| `{name}` |" in text
    assert "## Any other Hugging Face chat model (no plugin)" in text


def test_rows_say_template_targets_and_how_tested():
    text = render(only={"ftcore-mistral", "ftcore-baichuan"})
    assert ("| `mistral-7b-chat` | huggingface: `mistralai/Mistral-7B-Instruct-v0.1`<br>modelscope: "
            "`AI-ModelScope/Mistral-7B-Instruct-v0.1` | `llama` (also `jinja`) | `q_proj`, `k_proj`, `v_proj` | "
            "`transformers>=4.34` | tiny + real-shaped tokenizer |") in text
    assert "| `W_pack` | `sentencepiece>=0.1.99` | stand-in |" in text
    assert "## ftcore-qwen" not in text

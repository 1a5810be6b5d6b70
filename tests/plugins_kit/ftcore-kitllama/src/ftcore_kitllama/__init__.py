"""ftcore-kitllama: a tiny Llama-architecture family, its template and a local dataset.

``FTCORE_KITLLAMA_PLANT`` plants one failure (for ftcore's tests): ``import``, ``register_models``,
``load_model``.
"""

from __future__ import annotations

import os
from pathlib import Path

import ftcore

HERE = Path(__file__).parent
PLANT = os.environ.get("FTCORE_KITLLAMA_PLANT", "")

if PLANT == "import":
    raise ImportError("planted: kitllama needs a library that is not installed")


def build_tiny_llama(out_dir: Path) -> Path:
    from ftcore.testing import build_tiny_model_dir

    build_tiny_model_dir(out_dir, "llama")
    return Path(out_dir)  # a pathlib.Path, as docs/specs.md allows


@ftcore.hookimpl
def register_models(register):
    if PLANT == "register_models":
        raise KeyError("planted")
    register(ftcore.ModelSpec(
        name="kitllama-tiny",
        build=build_tiny_llama,
        template="kitllama",
        lora_targets=["q_proj", "v_proj"],
        tags=["chat"],
        description="a tiny random Llama, built on first use",
    ))


@ftcore.hookimpl
def register_templates(register):
    register(ftcore.TemplateSpec(
        name="kitllama",
        prompt=["### User:\n{{QUERY}}\n### Assistant:\n"],
        chat_sep=["\n"],
        suffix=[["eos_token_id"]],
        description="'### User: / ### Assistant:', no system slot",
    ))


@ftcore.hookimpl
def register_datasets(register):
    register(ftcore.DatasetSpec(
        name="kitllama-greetings",
        path=HERE / "data" / "greetings.jsonl",
        languages=["en"],
        description="six greetings, shipped as package data",
    ))


@ftcore.hookimpl
def load_model(spec, options):
    if spec.name.startswith("kitllama") and PLANT == "load_model":
        raise RuntimeError("planted: the kitllama loader broke")
    return None  # ftcore's built-in loader does the rest

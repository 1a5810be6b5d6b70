"""Choosing and loading a backend: ``load_engine(source, adapters, backend=...)``, and the serve extra's check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ftcore.errors import FtcoreError, MissingDependencyError
from ftcore.serve.engine import Engine, model_context_length

BACKENDS = ("transformers", "vllm")


def require_serve_extra() -> None:
    """FastAPI and uvicorn (``pip install 'ftcore[serve]'``), or a one-line MissingDependencyError naming it."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ftcore serve", "'ftcore[serve]'") from None


def load_engine(source: str, adapters: Mapping[str, str] | None = None, *, backend: str = "transformers",
                served_name: str | None = None, max_batch_size: int = 16, max_model_len: int | None = None,
                device: str | None = None, allow_plugins: bool = False, **backend_options: Any) -> Engine:
    """Load ``source`` (a checkpoint or a model) with its ``adapters`` (``{name: ckpt}``) into a backend."""
    adapters = dict(adapters or {})
    if backend == "transformers":
        from ftcore.serve.batching import TransformersEngine
        from ftcore.serve.models import load_transformers

        model, _tokenizer, served = load_transformers(source, adapters, served_name=served_name, device=device,
                                                       allow_plugins=allow_plugins)
        limit = max_model_len or model_context_length(model.config)
        return TransformersEngine(model, served, max_model_len=limit, max_batch_size=max_batch_size,
                                  **backend_options)
    if backend == "vllm":
        from ftcore.serve.vllm_backend import VLLMEngine

        return VLLMEngine.load(source, adapters, served_name=served_name, max_model_len=max_model_len,
                               allow_plugins=allow_plugins, **backend_options)
    raise FtcoreError(f"--backend {backend!r}: unknown backend (known: {', '.join(BACKENDS)})")

"""``ftcore serve``: an OpenAI-compatible HTTP API for a trained checkpoint (or a model) and its LoRA adapters.

    from ftcore.serve import load_engine, create_app
    engine = load_engine("best:output", adapters={"support": "output/support/checkpoint-best"})
    app = create_app(engine, api_key="sk-...")        # a FastAPI app; ftcore serve runs it with uvicorn

The prompt and stop ids of each served name come from the Template object its run trained with (the same one
``ftcore infer`` uses). Backends: ``transformers`` (default; batches concurrent requests) and ``vllm``. FastAPI and
uvicorn are the optional extra ``ftcore[serve]``; importing this package is light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["API_KEY_ENV", "DEFAULT_HOST", "DEFAULT_PORT", "ServerThread", "create_app", "load_engine", "run_server"]

#: where each public name lives (imported on first use)
_HOMES = {
    "create_app": "ftcore.serve.app",
    "load_engine": "ftcore.serve.backends",
    "run_server": "ftcore.serve.server",
    "ServerThread": "ftcore.serve.server",
    "API_KEY_ENV": "ftcore.serve.server",
    "DEFAULT_HOST": "ftcore.serve.server",
    "DEFAULT_PORT": "ftcore.serve.server",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'ftcore.serve' has no attribute {name!r}")

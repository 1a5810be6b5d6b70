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

__all__ = ["API_KEY_ENV", "DEFAULT_HOST", "DEFAULT_PORT", "create_app", "load_engine", "run_server"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: the environment variable ``ftcore serve`` reads the API key from when ``--api-key`` is not given
API_KEY_ENV = "FTCORE_API_KEY"


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ftcore.serve.app import create_app

        return create_app
    if name == "load_engine":
        from ftcore.serve.backends import load_engine

        return load_engine
    if name == "run_server":
        from ftcore.serve.server import run_server

        return run_server
    raise AttributeError(f"module 'ftcore.serve' has no attribute {name!r}")

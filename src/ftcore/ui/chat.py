"""Chat with a checkpoint: one checkpoint loaded at a time (``ftcore.inference.load_checkpoint``: the base model,
the adapter and the template the run trained with), answers streamed by ``ftcore.inference.inference_stream``.

Generation runs one request at a time (a lock), so two browser tabs never share the model mid-answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError


class ChatModel:
    """The loaded checkpoint (replaced when another one is asked for)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.loaded: tuple[Any, Any, Any, Any] | None = None
        self.lock = threading.Lock()

    def _load(self, ckpt: str) -> tuple[Any, Any, Any, Any]:
        from ftcore.inference import load_checkpoint, resolve_checkpoint

        path = resolve_checkpoint(ckpt)
        if self.loaded is None or self.path != path:
            self.loaded = None  # free the previous model before loading the next
            self.loaded = load_checkpoint(path)
            self.path = path
        return self.loaded

    def stream(self, ckpt: str, messages: list[dict[str, str]], **options: Any) -> Iterator[str]:
        """Server-sent events answering the last user message of ``messages`` after the earlier ones:
        ``data: {"delta": …}`` per piece of text, then ``data: {"done": true, "text": …}``, or
        ``data: {"error": …}`` (a one-line message) when the checkpoint cannot be loaded or generation fails."""
        from ftcore.inference import inference_stream

        with self.lock:
            try:
                if not messages or messages[-1].get("role") != "user":
                    raise FtcoreError("chat: the last message must be the user's")
                history = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages[:-1]]
                system = None
                if history and history[0]["role"] == "system":
                    system = history.pop(0)["content"]
                model, _tokenizer, template, cfg = self._load(ckpt)
                settings = {k: v for k, v in options.items() if v is not None}
                yield _event({"loaded": str(self.path)})
                parts: list[str] = []
                pieces = inference_stream(model, template, str(messages[-1]["content"]), history, system,
                                          generation=cfg.generation, **settings)
                for delta in pieces:
                    parts.append(delta)
                    yield _event({"delta": delta})
                yield _event({"done": True, "text": "".join(parts)})
            except FtcoreError as exc:
                yield _event({"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - shown in the page as one line, not a dropped connection
                yield _event({"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"})


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

"""The OpenAI request bodies ``ftcore serve`` accepts (pydantic models) and the response bodies it writes.

Fields of the OpenAI API that ftcore does not use are accepted and ignored, except those whose answer would be
wrong without them (``logprobs``, ``echo``, ``suffix``, tools): those are refused with a 400.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ftcore.serve.errors import ApiError

#: the most choices (``n``) and stop sequences one request may ask for
MAX_N = 16
MAX_STOP = 4


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int = Field(1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None

    def stop_words(self) -> list[str]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > MAX_STOP:
            raise ApiError(400, f"at most {MAX_STOP} stop sequences", param="stop")
        return [s for s in stop if s]

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    tools: list[Any] | None = None

    def token_budget(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(_Request):
    prompt: str | list[str] = Field(min_length=1)
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


def parse_body(raw: bytes, schema: type[BaseModel]) -> Any:
    """The request body as ``schema``; malformed JSON or a bad field is an ApiError (400) naming the field."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        req = schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("str", "list[", "function")))
        got = json.dumps(err.get("input"), default=str)[:80] if err["type"] != "missing" else None
        message = f"{param}: {err['msg']}" + (f" (got {got})" if got is not None else "")
        raise ApiError(400, message, param=param or None, code="invalid_value") from None
    unsupported = [name for name in ("logprobs", "echo", "suffix", "tools") if getattr(req, name, None)]
    if unsupported:
        raise ApiError(400, f"{unsupported[0]} is not supported by ftcore serve", param=unsupported[0],
                       code="unsupported_parameter")
    return req


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_response(rid: str, model: str, texts: list[str], reasons: list[str], use: dict[str, int]) -> dict[str, Any]:
    return {
        "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": r,
                     "logprobs": None} for i, (t, r) in enumerate(zip(texts, reasons, strict=True))],
        "usage": use, "system_fingerprint": None,
    }


def completion_response(rid: str, model: str, texts: list[str], reasons: list[str], use: dict[str, int]
                        ) -> dict[str, Any]:
    return {
        "id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
        "choices": [{"index": i, "text": t, "finish_reason": r, "logprobs": None}
                    for i, (t, r) in enumerate(zip(texts, reasons, strict=True))],
        "usage": use, "system_fingerprint": None,
    }


def chat_chunk(rid: str, model: str, created: int, choices: list[dict[str, Any]],
               use: dict[str, int] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                             "choices": choices, "system_fingerprint": None}
    if use is not None:
        chunk["usage"] = use
    return chunk


def completion_chunk(rid: str, model: str, created: int, choices: list[dict[str, Any]],
                     use: dict[str, int] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": rid, "object": "text_completion", "created": created, "model": model,
                             "choices": choices, "system_fingerprint": None}
    if use is not None:
        chunk["usage"] = use
    return chunk


def sse(data: Any) -> bytes:
    """One server-sent event: ``data: <json>`` (or ``data: [DONE]``) and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()

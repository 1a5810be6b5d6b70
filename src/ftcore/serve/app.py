"""The FastAPI app of ``ftcore serve``: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``
(each streamed as server-sent events with ``"stream": true``), and ``GET /health``.

Every refusal is OpenAI's error JSON with a 4xx status (malformed JSON, a bad field, an unknown model, a prompt
longer than the context, a missing or wrong API key); an unexpected failure is a 500 with the same shape and no
traceback. The API key is compared in constant time and never logged.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations, ``Request`` among them.)
"""


import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from ftcore.serve import protocol as p
from ftcore.serve.engine import Done, Engine, Job, resolve_sampling
from ftcore.serve.errors import ApiError, error_body
from ftcore.serve.models import PromptTooLong, ServedModel, chat_prompt_ids, completion_prompt_ids

log = logging.getLogger("ftcore.serve")

#: paths that answer without the API key
OPEN_PATHS = ("/health",)


def _key_matches(header: str | None, api_key: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    return hmac.compare_digest(given.strip().encode(), api_key.encode())


class _ApiKeyGuard:
    """ASGI middleware: every path but :data:`OPEN_PATHS` needs ``Authorization: Bearer <api key>`` (a plain ASGI
    wrapper, so streamed responses and client disconnects pass through untouched)."""

    def __init__(self, app: Any, api_key: str):
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not _key_matches(header, self.api_key):
                from fastapi.responses import JSONResponse

                body = ApiError(401, "incorrect or missing API key: send it as 'Authorization: Bearer <key>'",
                                code="invalid_api_key").body()
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(engine: Engine, *, api_key: str | None = None) -> Any:
    """The ASGI app serving ``engine``; with ``api_key`` every ``/v1`` request needs ``Authorization: Bearer KEY``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="ftcore serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine

    def error(exc: ApiError) -> Any:
        return JSONResponse(exc.body(), status_code=exc.status)

    if api_key:
        app.add_middleware(_ApiKeyGuard, api_key=api_key)

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> Any:  # logged by the server; the client gets JSON only
        log.error("request %s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse(error_body("the server failed to answer this request", type="server_error"),
                            status_code=500)

    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        return error(ApiError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Any:
        return error(exc)

    def served_model(name: str) -> ServedModel:
        served = engine.models.get(name)
        if served is None:
            raise ApiError(404, f"the model {name!r} does not exist (served: {', '.join(engine.models)})",
                           param="model", code="model_not_found")
        return served

    def model_card(m: ServedModel) -> dict[str, Any]:
        return {"id": m.id, "object": "model", "created": m.created, "owned_by": "ftcore"}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "backend": engine.name, **engine.stats()}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card(m) for m in engine.models.values()]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str) -> dict[str, Any]:
        return model_card(served_model(name))

    def make_job(req: Any, served: ServedModel, prompts: list[list[int]], budget: int | None, rid: str) -> Job:
        sampling = resolve_sampling(served, prompt_lens=[len(x) for x in prompts], max_model_len=engine.max_model_len,
                                    max_tokens=budget, temperature=req.temperature, top_p=req.top_p, seed=req.seed,
                                    stop=req.stop_words())
        return Job(served, prompts, req.n, sampling, rid)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = p.parse_body(await request.body(), p.ChatRequest)
        served = served_model(req.model)
        try:
            ids = chat_prompt_ids(served, [m.model_dump() for m in req.messages])
        except ValueError as exc:
            raise ApiError(400, f"messages: {exc}", param="messages") from None
        except PromptTooLong as exc:
            raise ApiError(400, str(exc), param="messages", code="context_length_exceeded") from None
        job = make_job(req, served, [ids], req.token_budget(), p.new_id("chatcmpl"))
        if req.stream:
            return StreamingResponse(_stream(engine, job, req.include_usage(), chat=True),
                                     media_type="text/event-stream")
        texts, reasons, tokens = await _collect(engine, job)
        return p.chat_response(job.id, served.id, texts, reasons, p.usage(job.prompt_tokens, tokens))

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        req = p.parse_body(await request.body(), p.CompletionRequest)
        served = served_model(req.model)
        prompts = [completion_prompt_ids(served, text) for text in req.prompts()]
        if not all(prompts):
            raise ApiError(400, "prompt: empty", param="prompt")
        job = make_job(req, served, prompts, req.max_tokens, p.new_id("cmpl"))
        if req.stream:
            return StreamingResponse(_stream(engine, job, req.include_usage(), chat=False),
                                     media_type="text/event-stream")
        texts, reasons, tokens = await _collect(engine, job)
        return p.completion_response(job.id, served.id, texts, reasons, p.usage(job.prompt_tokens, tokens))

    return app


async def _collect(engine: Engine, job: Job) -> tuple[list[str], list[str], int]:
    """Every choice's whole text, finish reason, and the completion tokens of all of them."""
    size = len(job.prompts) * job.n
    texts, reasons, tokens = [""] * size, ["length"] * size, 0
    async for event in engine.run(job):
        if isinstance(event, Done):
            reasons[event.index] = event.reason
            tokens += event.tokens
        else:
            texts[event.index] += event.text
    return texts, reasons, tokens


async def _stream(engine: Engine, job: Job, include_usage: bool, *, chat: bool) -> AsyncIterator[bytes]:
    """Server-sent events of ``job``: a first chunk per choice (chat: the assistant role), its text deltas, a last
    chunk with its finish reason, the usage (``stream_options.include_usage``), then ``[DONE]``. A client that
    disconnects cancels this generator, and leaving ``engine.run`` frees the job's slots."""
    created, model, tokens = int(time.time()), job.model.id, 0
    chunk = p.chat_chunk if chat else p.completion_chunk

    def choice(index: int, text: str | None = None, reason: str | None = None, role: bool = False) -> dict[str, Any]:
        if not chat:
            return {"index": index, "text": text or "", "finish_reason": reason, "logprobs": None}
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else (
            {"content": text} if text is not None else {})
        return {"index": index, "delta": delta, "finish_reason": reason, "logprobs": None}

    if chat:
        yield p.sse(chunk(job.id, model, created, [choice(i, role=True) for i in range(len(job.prompts) * job.n)]))
    try:
        async for event in engine.run(job):
            if isinstance(event, Done):
                tokens += event.tokens
                yield p.sse(chunk(job.id, model, created, [choice(event.index, reason=event.reason)]))
            else:
                yield p.sse(chunk(job.id, model, created, [choice(event.index, event.text)]))
    except ApiError as exc:  # the response has started: the error goes as an event
        yield p.sse(exc.body())
    if include_usage:
        yield p.sse(chunk(job.id, model, created, [], p.usage(job.prompt_tokens, tokens)))
    yield p.sse("[DONE]")

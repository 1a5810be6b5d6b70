"""The FastAPI app of ``ftcore ui``: the page (``static/``) and its JSON API, everything under one folder.

    GET  /                       the page
    GET  /api/catalog            models, datasets, tuners for the run form
    POST /api/draft              form → run.toml text
    POST /api/validate           {"path", "text"} → {"ok", "problems"} (ftcore validate's messages)
    POST /api/jobs               {"path", "text"}: write the file, start `python -m ftcore train` on it
    GET  /api/jobs               the jobs started from the page;  GET /api/jobs/{id}: state, progress, log tail
    POST /api/jobs/{id}/stop     SIGTERM (the run saves a checkpoint and stops)
    GET  /api/runs               run folders under the UI's folder, with checkpoints
    GET  /api/metrics            {"run", "since"} → new records of the run's metrics.jsonl
    POST /api/chat               {"checkpoint", "messages", …} → server-sent events with the answer's text

Every path the page sends is relative to the UI's folder and must stay inside it; an FtcoreError is a 400 with
``{"error": <its message>}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ftcore.errors import ConfigError, FtcoreError
from ftcore.ui import catalog
from ftcore.ui.chat import ChatModel
from ftcore.ui.jobs import JobManager
from ftcore.ui.runs import find_runs, inside, read_metrics, run_summary

STATIC = Path(__file__).parent / "static"


class DraftForm(BaseModel):
    model: str = ""
    datasets: list[str] = Field(default_factory=list)
    tuner: str = "lora"
    max_steps: int | None = None
    epochs: float | None = None
    lr: float | str | None = None
    output_dir: str | None = None
    max_length: int | None = None


class RunFile(BaseModel):
    path: str = "run.toml"
    text: str


class ChatRequest(BaseModel):
    checkpoint: str
    messages: list[dict[str, str]]
    max_new_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0)
    do_sample: bool | None = None


def create_app(root: str | Path = ".", python: str | None = None) -> FastAPI:
    """The app serving the page and its API for the run files and runs under ``root``."""
    import sys

    base = Path(root).resolve()
    jobs = JobManager(base, python or sys.executable)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()  # the UI stops: its training runs stop too (each saves a checkpoint)

    app = FastAPI(title="ftcore ui", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    chat = ChatModel()
    app.state.root, app.state.jobs, app.state.chat = base, jobs, chat

    @app.exception_handler(FtcoreError)
    async def _user_error(request: Request, exc: FtcoreError) -> JSONResponse:
        problems = exc.problems if isinstance(exc, ConfigError) else str(exc).splitlines()
        return JSONResponse({"error": str(exc), "problems": problems}, status_code=400)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = inside(STATIC, name)
        if not path.is_file():
            raise FtcoreError(f"{name}: no such file")
        return FileResponse(path)

    @app.get("/api/catalog")
    def get_catalog() -> dict[str, Any]:
        return {"root": str(base), **catalog.choices()}

    @app.post("/api/draft")
    def draft(form: DraftForm) -> dict[str, str]:
        return {"text": catalog.draft(form.model_dump())}

    @app.post("/api/validate")
    def validate(run: RunFile) -> dict[str, Any]:
        problems = catalog.validate_text(inside(base, run.path), run.text, run.path)
        return {"ok": not problems, "problems": problems}

    @app.post("/api/jobs")
    def start(run: RunFile) -> dict[str, Any]:
        path = inside(base, run.path)
        if path.suffix != ".toml":
            raise FtcoreError(f"{run.path}: a run file ends in .toml")
        problems = catalog.validate_text(path, run.text, run.path)
        if problems:
            raise ConfigError(problems)
        output = catalog.output_dir(path, run.text)
        if output != base and base not in output.parents:
            raise FtcoreError(f"{run.path}: output.dir: {output} is not inside the UI's folder {base}; the page "
                              "lists and charts only runs inside it")
        path.write_text(run.text, encoding="utf-8")
        return jobs.describe(jobs.start(path, output))

    @app.get("/api/jobs")
    def list_jobs() -> list[dict[str, Any]]:
        return [jobs.describe(job) for job in jobs.jobs.values()]

    @app.get("/api/jobs/{job_id}")
    def job(job_id: int) -> dict[str, Any]:
        return jobs.describe(jobs.get(job_id))

    @app.post("/api/jobs/{job_id}/stop")
    def stop(job_id: int) -> dict[str, Any]:
        return jobs.describe(jobs.stop(job_id))

    @app.get("/api/runs")
    def runs() -> list[dict[str, Any]]:
        return [run_summary(base, run) for run in find_runs(base)]

    @app.get("/api/metrics")
    def metrics(run: str, since: int = 0) -> dict[str, Any]:
        records, nxt = read_metrics(inside(base, run), max(0, since))
        return {"records": records, "next": nxt}

    @app.post("/api/chat")
    def chat_stream(req: ChatRequest) -> StreamingResponse:
        ckpt = str(inside(base, req.checkpoint))
        options = {"max_new_tokens": req.max_new_tokens, "temperature": req.temperature, "do_sample": req.do_sample}
        return StreamingResponse(chat.stream(ckpt, req.messages, **options), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app

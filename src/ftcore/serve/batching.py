"""The transformers backend: one worker thread runs ``model.generate`` on batches of concurrent requests.

Requests queue up as rows (one per choice). The worker takes the oldest row, waits a moment (``batch_wait``) for
more, and runs every queued row with the same served model and sampling settings (up to ``max_batch_size``) as
one left-padded batch; the attention mask keeps padding out, so a greedy answer is the one the prompt gets alone.
Each row has its own token budget, stop words and cancel flag (a per-row stopping criterion), and a streamer hands
each row's new text to its request as it is generated. A LoRA adapter is chosen per batch (``set_adapter``; the
base model runs with adapters disabled), so only the worker thread ever touches the model.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ftcore.inference.generate import StopWordFilter
from ftcore.serve.engine import Delta, Done, Engine, Job
from ftcore.serve.errors import ApiError
from ftcore.serve.models import ServedModel


class _Failed:
    def __init__(self, message: str):
        self.message = message


class Row:
    """One choice being generated: its prompt, budget, stop words, and the text sent so far."""

    def __init__(self, index: int, prompt: list[int], served: ServedModel, job: Job,
                 emit: Callable[[Any], None]):
        self.index = index
        self.prompt = prompt
        self.served = served
        self.max_tokens = job.sampling.max_tokens
        # a seeded job runs alone, so its answer depends on its seed only
        self.key = (served.id, job.sampling.batch_key(), id(job) if job.sampling.seed is not None else None)
        self.sampling = job.sampling
        self.emit = emit
        self.stops = set(served.stop_ids)
        self.filter = StopWordFilter([*served.stop_words, *job.sampling.stop])
        self.tokens: list[int] = []
        self.count = 0
        self.sent = 0
        self.done = False
        self.cancelled = False
        self.reason = ""

    @property
    def live(self) -> bool:
        return not (self.done or self.cancelled)

    def feed(self, token: int) -> None:
        """The next generated token (ignored once the row ended)."""
        if not self.live:
            return
        self.count += 1
        if token in self.stops:
            self.finish("stop")
            return
        self.tokens.append(token)
        text = self.served.template.tokenizer.decode(self.tokens, skip_special_tokens=True)
        end = len(text)
        while end > self.sent and text[end - 1] == "\ufffd":  # an incomplete character: wait for its last byte
            end -= 1
        if end > self.sent:
            out = self.filter.feed(text[self.sent:end])
            self.sent = end
            if out:
                self.emit(Delta(self.index, out))
        if self.filter.stopped:
            self.finish("stop")
        elif self.count >= self.max_tokens:
            self.finish("length")

    def finish(self, reason: str) -> None:
        if self.done:
            return
        text = self.served.template.tokenizer.decode(self.tokens, skip_special_tokens=True)
        rest = self.filter.feed(text[self.sent:]) if len(text) > self.sent else ""  # a held-back last character
        self.sent = len(text)
        rest += self.filter.flush()
        if rest:
            self.emit(Delta(self.index, rest))
        self.done = True
        self.reason = reason
        self.emit(Done(self.index, reason, self.count))


class _BatchStreamer:
    """A transformers streamer for a batch: the first ``put`` is the prompt, then one token per row per step."""

    def __init__(self, rows: list[Row]):
        self.rows = rows
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=False):
            row.feed(int(token))

    def end(self) -> None:
        for row in self.rows:
            if not row.cancelled:
                row.finish("length")


def _row_stopper(rows: list[Row]) -> Any:
    import torch
    from transformers import StoppingCriteria

    class _RowStop(StoppingCriteria):
        """Ends each row that met a stop word, its own max_tokens, or was cancelled (its client went away)."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.tensor([not r.live for r in rows], dtype=torch.bool, device=input_ids.device)

    return _RowStop()


class TransformersEngine(Engine):
    """The default backend (works on CPU); see the module docstring."""

    def __init__(self, model: Any, models: dict[str, ServedModel], *, max_model_len: int,
                 max_batch_size: int = 16, batch_wait: float = 0.02):
        super().__init__(models=models, max_model_len=max_model_len, name="transformers")
        self.model = model
        self.max_batch_size = max(1, max_batch_size)
        self.batch_wait = batch_wait
        self._queue: queue.Queue[list[Row] | None] = queue.Queue()
        self._pending: list[Row] = []
        self._running: list[Row] = []
        self._ids = itertools.count()
        self.batches = 0  # batches run so far (tests and the benchmark read it)
        #: how the last rows ended: (reason, tokens generated); reason "cancelled" for a client that went away
        self.finished: collections.deque[tuple[str, int]] = collections.deque(maxlen=256)
        self._thread = threading.Thread(target=self._loop, name="ftcore-serve-worker", daemon=True)
        self._thread.start()

    def stats(self) -> dict[str, int]:
        running = sum(1 for r in list(self._running) if r.live)
        waiting = sum(1 for r in list(self._pending) if r.live) + sum(
            1 for rows in list(self._queue.queue) if rows for r in rows if r.live)
        return {"running": running, "waiting": waiting}

    async def run(self, job: Job) -> AsyncIterator[Delta | Done]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()

        def emit(event: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        rows = [Row(i * job.n + j, prompt, job.model, job, emit)
                for i, prompt in enumerate(job.prompts) for j in range(job.n)]
        self._queue.put(rows)
        left = len(rows)
        try:
            while left:
                event = await events.get()
                if isinstance(event, _Failed):
                    raise ApiError(500, f"generation failed: {event.message}", type="server_error",
                                   code="generation_failed")
                if isinstance(event, Done):
                    left -= 1
                yield event
        finally:
            for row in rows:  # a client that went away (or an error): its rows stop at the next step
                row.cancelled = row.cancelled or not row.done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    # the worker thread

    def _take(self, block: bool, timeout: float | None = None) -> bool:
        """Move queued rows to the pending list; False when the engine is closing."""
        try:
            item = self._queue.get(block=block, timeout=timeout)
        except queue.Empty:
            return True
        if item is None:
            return False
        self._pending.extend(item)
        return True

    def _loop(self) -> None:
        while True:
            if not self._pending and not self._take(block=True):
                return
            deadline = time.monotonic() + self.batch_wait
            while (left := deadline - time.monotonic()) > 0:
                if not self._take(block=True, timeout=left):
                    return
            while not self._queue.empty():
                if not self._take(block=False):
                    return
            self._pending = [r for r in self._pending if not r.cancelled]
            if not self._pending:
                continue
            key = self._pending[0].key
            batch = [r for r in self._pending if r.key == key][: self.max_batch_size]
            chosen = {id(r) for r in batch}
            self._pending = [r for r in self._pending if id(r) not in chosen]
            self._generate(batch)

    def _adapter(self, served: ServedModel) -> Any:
        from peft import PeftModel

        if not isinstance(self.model, PeftModel):
            return contextlib.nullcontext()
        if served.adapter is None:
            return self.model.disable_adapter()
        self.model.set_adapter(served.adapter)
        return contextlib.nullcontext()

    def _generate(self, rows: list[Row]) -> None:
        import torch
        from transformers import GenerationConfig, StoppingCriteriaList

        served, sampling = rows[0].served, rows[0].sampling
        tokenizer = served.template.tokenizer
        stops = served.stop_ids
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[0] if stops else 0)
        width = max(len(r.prompt) for r in rows)
        device = getattr(self.model, "device", None) or next(self.model.parameters()).device
        ids = torch.tensor([[pad] * (width - len(r.prompt)) + r.prompt for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in rows], device=device)
        options: dict[str, Any] = dict(max_new_tokens=max(r.max_tokens for r in rows), do_sample=sampling.do_sample,
                                       repetition_penalty=sampling.repetition_penalty, eos_token_id=stops or None,
                                       pad_token_id=pad)
        if sampling.do_sample:
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        else:
            options.update(temperature=None, top_p=None, top_k=None)
        streamer = _BatchStreamer(rows)
        self._running = rows
        self.batches += 1
        try:
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            with torch.inference_mode(), self._adapter(served):
                self.model.generate(input_ids=ids, attention_mask=mask,
                                    generation_config=GenerationConfig(**options),
                                    stopping_criteria=StoppingCriteriaList([_row_stopper(rows)]),
                                    streamer=streamer)
            streamer.end()
        except Exception as exc:  # noqa: BLE001 - reported to each waiting request, the worker keeps going
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            for row in rows:
                if row.live:
                    row.done = True
                    row.emit(_Failed(message))
        finally:
            self._running = []
            self.finished.extend(("cancelled" if r.cancelled and not r.done else r.reason, r.count) for r in rows)

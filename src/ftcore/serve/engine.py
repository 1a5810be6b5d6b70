"""What every backend shares: a job (prompts × n choices with sampling settings), the events a backend yields for
it, and the sampling settings resolved from a request and the run's ``[generation]``.

A backend is an :class:`Engine`: ``models`` (served id → :class:`~ftcore.serve.models.ServedModel`) and ``run(job)``,
an async iterator of :class:`Delta` / :class:`Done` events, one ``Done`` per choice. Leaving the iteration early
(a client that went away) cancels the job's choices and frees their slots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ftcore.serve.errors import ApiError
from ftcore.serve.models import ServedModel


@dataclass(frozen=True)
class Sampling:
    """The generation settings of one job (every choice of it)."""

    max_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def batch_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys may run in one batch (max_tokens and stop words are per row)."""
        return (self.do_sample, self.temperature, self.top_p, self.top_k, self.repetition_penalty, self.seed)


@dataclass
class Job:
    """A request's work: each prompt answered ``n`` times; choice ``i * n + j`` is prompt i's j-th answer."""

    model: ServedModel
    prompts: list[list[int]]
    n: int
    sampling: Sampling
    id: str = ""

    @property
    def prompt_tokens(self) -> int:
        return sum(len(p) for p in self.prompts)


@dataclass(frozen=True)
class Delta:
    """New text of choice ``index``."""

    index: int
    text: str


@dataclass(frozen=True)
class Done:
    """Choice ``index`` ended: ``reason`` is ``stop`` (a stop token or word) or ``length``; ``tokens`` generated."""

    index: int
    reason: str
    tokens: int


@dataclass
class Engine:
    """The backend interface (see the module docstring)."""

    models: dict[str, ServedModel]
    max_model_len: int
    name: str = "engine"
    info: dict[str, Any] = field(default_factory=dict)

    def run(self, job: Job) -> AsyncIterator[Delta | Done]:  # pragma: no cover - each backend has its own
        raise NotImplementedError

    def stats(self) -> dict[str, int]:
        """``{"running": choices generating now, "waiting": choices queued}``."""
        return {"running": 0, "waiting": 0}

    def close(self) -> None:
        """Stop the backend's workers."""


def resolve_sampling(served: ServedModel, *, prompt_lens: Sequence[int], max_model_len: int,
                     max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
                     seed: int | None = None, stop: Sequence[str] = ()) -> Sampling:
    """The job's settings: the request's values over the run's ``[generation]`` (as ``ftcore infer``: temperature 0
    is greedy). A prompt that leaves no room in the context, or ``max_tokens`` past it, is an ApiError (400)."""
    gen = served.generation
    longest = max(prompt_lens, default=0)
    room = max_model_len - longest
    if room <= 0:
        raise ApiError(400, f"the prompt is {longest} tokens long; this model's context is {max_model_len} tokens",
                       param="messages", code="context_length_exceeded")
    if max_tokens is not None and longest + max_tokens > max_model_len:
        raise ApiError(400, f"max_tokens {max_tokens} plus the prompt's {longest} tokens is more than this model's "
                       f"context of {max_model_len} tokens", param="max_tokens", code="context_length_exceeded")
    if max_tokens is None:
        max_tokens = min(gen.max_new_tokens, room)
    do_sample = gen.do_sample if temperature is None else temperature > 0
    temp = gen.temperature if temperature is None or temperature <= 0 else temperature
    if do_sample and temp <= 0:
        do_sample = False
    return Sampling(max_tokens=max_tokens, do_sample=do_sample, temperature=float(temp),
                    top_p=float(gen.top_p if top_p is None else top_p), top_k=int(gen.top_k),
                    repetition_penalty=float(gen.repetition_penalty), seed=seed, stop=tuple(s for s in stop if s))


def model_context_length(model_config: Any, default: int = 2048) -> int:
    """The longest sequence a model takes (``max_position_embeddings`` and friends of its config)."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return default

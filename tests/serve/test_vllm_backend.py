"""The vLLM backend against a stand-in of vLLM's documented API (vLLM cannot run here: it needs a CUDA GPU): the
prompt goes as the template's token ids, the template's stop ids and words become ``stop_token_ids`` / ``stop``,
LoRA adapters go as ``LoRARequest``s, cumulative outputs become deltas, and a client that leaves aborts the request."""

from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from ftcore.serve.engine import Delta, Done, Job, resolve_sampling
from ftcore.serve.vllm_backend import VLLMEngine, lora_rank, max_lora_rank


@dataclass
class _Out:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None = None


@dataclass
class _RequestOutput:
    outputs: list[_Out]


@dataclass
class _FakeAsyncEngine:
    """Answers "hello world" for each of n choices, three cumulative steps; records every call."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)

    async def generate(self, prompt: Any, params: Any, request_id: str, lora_request: Any = None) -> Any:
        self.calls.append({"prompt": prompt, "params": params, "id": request_id, "lora": lora_request})
        steps = [("hel", None), ("hello wor", None), ("hello world", "stop")]
        for k, (text, reason) in enumerate(steps):
            await asyncio.sleep(0)
            yield _RequestOutput([_Out(i, text, list(range(k + 1)), reason) for i in range(params.n)])

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)  # type: ignore[attr-defined]
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda **kw: dict(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)


def _job(engine: Any, name: str, n: int = 1, **kw: Any) -> Job:
    from ftcore.serve.models import chat_prompt_ids

    served = engine.models[name]
    ids = chat_prompt_ids(served, [{"role": "user", "content": "Who are you?"}])
    return Job(served, [ids], n, resolve_sampling(served, prompt_lens=[len(ids)], max_model_len=256, **kw), "job-1")


async def _drain(it: Any, stop_after: int | None = None) -> list[Any]:
    out = []
    async for event in it:
        out.append(event)
        if stop_after is not None and len(out) >= stop_after:
            break
    return out


def test_requests_carry_the_templates_ids_and_the_adapter(engine: Any, fake_vllm: None) -> None:
    fake = _FakeAsyncEngine()
    vengine = VLLMEngine(fake, engine.models, max_model_len=256, loras={"a1": "lora-b"})
    job = _job(engine, "b", n=2, max_tokens=9, temperature=0, stop=["END"])
    events = asyncio.run(_drain(vengine.run(job)))
    call = fake.calls[0]
    assert call["prompt"] == {"prompt_token_ids": job.prompts[0]} and call["lora"] == "lora-b"
    params = call["params"]
    served = engine.models["b"]
    assert params.stop_token_ids == served.stop_ids and params.stop == [*served.stop_words, "END"]
    assert params.n == 2 and params.max_tokens == 9 and params.temperature == 0.0 and params.top_k == -1
    texts = {i: "".join(e.text for e in events if isinstance(e, Delta) and e.index == i) for i in (0, 1)}
    assert texts == {0: "hello world", 1: "hello world"}
    assert sorted((e.index, e.reason, e.tokens) for e in events if isinstance(e, Done)) == [(0, "stop", 3),
                                                                                          (1, "stop", 3)]
    sampled = vengine.sampling_params(_job(engine, "tiny", temperature=0.7, top_p=0.5, seed=3))
    assert sampled.temperature == 0.7 and sampled.top_p == 0.5 and sampled.seed == 3


def test_a_client_that_leaves_aborts_the_request(engine: Any, fake_vllm: None) -> None:
    fake = _FakeAsyncEngine()
    vengine = VLLMEngine(fake, engine.models, max_model_len=256)

    async def leave_early() -> None:
        it = vengine.run(_job(engine, "tiny", max_tokens=9, temperature=0))
        await _drain(it, stop_after=1)
        await it.aclose()

    asyncio.run(leave_early())
    assert fake.aborted == ["job-1-0"] and fake.calls[0]["lora"] is None
    assert vengine.stats()["running"] == 0


def test_lora_ranks(checkpoints: Any) -> None:
    assert lora_rank(str(checkpoints[0])) == 8
    assert max_lora_rank([4, 8]) == 8 and max_lora_rank([9]) == 16 and max_lora_rank([]) == 8

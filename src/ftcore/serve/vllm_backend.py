"""The vLLM backend (``--backend vllm``): vLLM's ``AsyncLLMEngine`` runs the model on a GPU with its own continuous
batching; each LoRA adapter is a ``LoRARequest`` (vLLM's adapter support).

ftcore still builds every prompt: the Template of the served name encodes the messages and the prompt goes to vLLM
as token ids (``TokensPrompt``), with the template's stop ids and stop words as ``stop_token_ids`` / ``stop`` — the
same ids as the transformers backend and ``ftcore infer``. vLLM is not a dependency of ftcore (install it on the
GPU machine: ``pip install vllm``); selecting this backend without it is a one-line error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.serve.engine import Delta, Done, Engine, Job, model_context_length
from ftcore.serve.errors import ApiError
from ftcore.serve.models import ServedModel, resolve_all

#: LoRA ranks vLLM accepts for ``max_lora_rank``
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def import_vllm() -> Any:
    """The ``vllm`` module, or an FtcoreError saying how to get it."""
    try:
        import vllm
    except ImportError:
        raise FtcoreError("--backend vllm needs vLLM, which is not installed: on a machine with a CUDA GPU run "
                          "`pip install vllm`, or use the default --backend transformers") from None
    return vllm


def lora_rank(adapter_dir: str) -> int:
    """The rank ``r`` of a peft adapter folder (``adapter_config.json``)."""
    data = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    ranks = [int(data.get("r") or 8), *(int(v) for v in (data.get("rank_pattern") or {}).values())]
    return max(ranks)


def max_lora_rank(ranks: list[int]) -> int:
    """The smallest rank vLLM accepts that holds every adapter's rank."""
    need = max(ranks, default=8)
    for r in VLLM_LORA_RANKS:
        if r >= need:
            return r
    raise FtcoreError(f"--backend vllm: LoRA rank {need} is over vLLM's largest ({VLLM_LORA_RANKS[-1]})")


class VLLMEngine(Engine):
    """Requests go to ``engine.generate(TokensPrompt, SamplingParams, request_id, lora_request=...)``; a job whose
    client went away is ``abort``-ed."""

    def __init__(self, engine: Any, models: dict[str, ServedModel], *, max_model_len: int,
                 loras: Mapping[str, Any] | None = None):
        super().__init__(models=models, max_model_len=max_model_len, name="vllm")
        self.engine = engine
        self.loras = dict(loras or {})  # peft adapter name of a ServedModel -> vllm.lora.request.LoRARequest
        self._running: set[str] = set()

    @classmethod
    def load(cls, source: str, adapters: Mapping[str, str], *, served_name: str | None = None,
             max_model_len: int | None = None, allow_plugins: bool = False, **engine_options: Any) -> VLLMEngine:
        """Start vLLM on the base model of ``source`` with every LoRA adapter enabled."""
        vllm = import_vllm()
        import torch

        if not torch.cuda.is_available():
            raise FtcoreError("--backend vllm needs a CUDA GPU and none is visible; use --backend transformers")
        from transformers import AutoConfig
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.lora.request import LoRARequest

        from ftcore.inference.checkpoint import template_for
        from ftcore.models import load

        main, extra = resolve_all(source, adapters, allow_plugins=allow_plugins)
        _none, tokenizer = load(main.cfg, main.spec, main.model_dir, load_model=False)
        name = served_name or source
        dirs = ([("a0", main.adapter_dir)] if main.adapter_dir else []) + [
            (f"a{i + 1}", t.adapter_dir) for i, t in enumerate(extra.values())]
        loras = {n: LoRARequest(n, i + 1, str(d)) for i, (n, d) in enumerate(dirs)}
        limit = max_model_len or model_context_length(AutoConfig.from_pretrained(main.model_dir))
        options: dict[str, Any] = dict(model=main.model_dir, tokenizer=main.model_dir, max_model_len=limit)
        if loras:
            options.update(enable_lora=True, max_loras=len(loras),
                           max_lora_rank=max_lora_rank([lora_rank(str(d)) for _n, d in dirs]))
        options.update(engine_options)
        engine = vllm.AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**options))
        served = {name: ServedModel(name, template_for(main.cfg, tokenizer, main.spec), main.cfg.generation,
                                    "a0" if main.adapter_dir else None, source)}
        for i, (adapter_name, t) in enumerate(extra.items()):
            served[adapter_name] = ServedModel(adapter_name, template_for(t.cfg, tokenizer, t.spec),
                                               t.cfg.generation, f"a{i + 1}", t.source)
        return cls(engine, served, max_model_len=limit, loras=loras)

    def sampling_params(self, job: Job) -> Any:
        """vLLM's ``SamplingParams`` for ``job``: greedy is temperature 0; the template's stops as ids and words."""
        from vllm import SamplingParams

        s, served = job.sampling, job.model
        return SamplingParams(
            n=job.n, max_tokens=s.max_tokens, temperature=s.temperature if s.do_sample else 0.0,
            top_p=s.top_p if s.do_sample else 1.0, top_k=s.top_k if s.do_sample and s.top_k > 0 else -1,
            repetition_penalty=s.repetition_penalty, seed=s.seed, stop=[*served.stop_words, *s.stop] or None,
            stop_token_ids=served.stop_ids, skip_special_tokens=True)

    def stats(self) -> dict[str, int]:
        return {"running": len(self._running), "waiting": 0}

    async def run(self, job: Job) -> AsyncIterator[Delta | Done]:
        from vllm.inputs import TokensPrompt

        params = self.sampling_params(job)
        lora = self.loras.get(job.model.adapter) if job.model.adapter else None
        events: asyncio.Queue[Any] = asyncio.Queue()
        ids = [f"{job.id}-{i}" for i in range(len(job.prompts))]

        async def pump(i: int, prompt: list[int]) -> None:
            sent: dict[int, int] = {}
            try:
                async for out in self.engine.generate(TokensPrompt(prompt_token_ids=prompt), params, ids[i],
                                                      lora_request=lora):
                    for c in out.outputs:
                        index = i * job.n + c.index
                        if len(c.text) > sent.get(index, 0):
                            await events.put(Delta(index, c.text[sent.get(index, 0):]))
                            sent[index] = len(c.text)
                        if c.finish_reason is not None and index not in done:
                            done.add(index)
                            reason = "length" if c.finish_reason == "length" else "stop"
                            await events.put(Done(index, reason, len(c.token_ids)))
                for j in range(job.n):  # a stream that ended without a finish reason
                    if i * job.n + j not in done:
                        done.add(i * job.n + j)
                        await events.put(Done(i * job.n + j, "length", 0))
            except Exception as exc:  # noqa: BLE001 - handed to the request
                await events.put(exc)

        done: set[int] = set()
        self._running.update(ids)
        tasks = [asyncio.ensure_future(pump(i, p)) for i, p in enumerate(job.prompts)]
        left = len(job.prompts) * job.n
        try:
            while left:
                event = await events.get()
                if isinstance(event, Exception):
                    raise ApiError(500, f"generation failed: {type(event).__name__}", type="server_error")
                if isinstance(event, Done):
                    left -= 1
                yield event
        finally:
            for task in tasks:
                task.cancel()
            for rid in ids:  # a client that went away: vLLM frees the request's slot
                await self.engine.abort(rid)
            self._running.difference_update(ids)

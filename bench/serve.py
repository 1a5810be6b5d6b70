"""Serving speed: ``ftcore serve`` (transformers backend) against a bare ``model.generate`` loop on the same model.

    python bench/serve.py                                   # the tiny quick-start model, 1 and 8 clients
    python bench/serve.py --model best:output --max-tokens 128 --requests 32 --concurrency 1,4,8,16
    python bench/serve.py --requests 2 --max-tokens 4 --concurrency 1,2     # a quick check that it runs

"bare" answers the prompts one after another with ``model.generate`` (greedy, a streamer timing the first token):
the floor without HTTP, queueing or batching. "serve" starts ``ftcore serve MODEL`` as a subprocess on 127.0.0.1
and sends the same prompts from N concurrent clients with the official ``openai`` client (streaming, greedy), so
batching can work. Prints tokens/s (generated tokens over wall time) and time to first token (median and p90) per
setting, and the ratio to bare. Needs ``ftcore[serve]`` and ``openai``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

QUESTIONS = ["Who are you?", "What can you do?", "Who made you?", "What is your name?", "Can you help me?",
             "Introduce yourself.", "What are you good at?", "Where do you come from?"]


def questions(n: int) -> list[str]:
    return [f"{QUESTIONS[i % len(QUESTIONS)]} ({i})" for i in range(n)]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def bare(model_name: str, prompts: list[str], max_tokens: int) -> dict[str, float]:
    """One prompt at a time through ``model.generate`` with the served model's template."""
    import torch
    from transformers import GenerationConfig

    from ftcore.serve.models import chat_prompt_ids, load_transformers

    model, _tok, served = load_transformers(model_name, {})
    s = next(iter(served.values()))
    stops = s.stop_ids
    config = GenerationConfig(max_new_tokens=max_tokens, do_sample=False, eos_token_id=stops, pad_token_id=stops[0],
                              temperature=None, top_p=None, top_k=None)

    class FirstToken:
        def __init__(self) -> None:
            self.calls, self.at = 0, 0.0

        def put(self, value: Any) -> None:
            self.calls += 1
            if self.calls == 2:  # the first call carries the prompt
                self.at = time.perf_counter()

        def end(self) -> None:
            pass

    with torch.inference_mode():  # warm up, as the server is before timing
        model.generate(input_ids=torch.tensor([chat_prompt_ids(s, [{"role": "user", "content": "hi"}])]),
                       generation_config=config, max_new_tokens=2)
    tokens, ttft = 0, []
    start = time.perf_counter()
    for q in prompts:
        ids = chat_prompt_ids(s, [{"role": "user", "content": q}])
        first, t0 = FirstToken(), time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 generation_config=config, streamer=first)
        ttft.append(first.at - t0)
        tokens += out.shape[1] - len(ids)
    wall = time.perf_counter() - start
    return {"tokens": tokens, "wall": wall, "ttft": ttft}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_name: str, max_batch_size: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ftcore", "serve", model_name, "--served-name", "bench",
                             "--port", str(port), "--max-batch-size", str(max_batch_size), "--log-level", "warning"],
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"ftcore serve exited with status {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("ftcore serve did not start in 300 s")


def served(url: str, prompts: list[str], max_tokens: int, clients: int) -> dict[str, float]:
    """``prompts`` sent by ``clients`` concurrent openai clients (streaming, greedy)."""
    from openai import OpenAI

    local = threading.local()

    def ask(q: str) -> tuple[int, float]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600)
        t0, first, used = time.perf_counter(), None, 0
        stream = client.chat.completions.create(model="bench", messages=[{"role": "user", "content": q}],
                                                max_tokens=max_tokens, temperature=0, stream=True,
                                                stream_options={"include_usage": True})
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - t0
            if chunk.usage is not None:
                used = chunk.usage.completion_tokens
        return used, first if first is not None else time.perf_counter() - t0

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(ask, prompts))
    wall = time.perf_counter() - start
    return {"tokens": sum(r[0] for r in results), "wall": wall, "ttft": [r[1] for r in results]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ftcore-tiny-qwen2", help="checkpoint or model (default: the tiny model)")
    parser.add_argument("--requests", type=int, default=16, help="prompts per setting")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", default="1,8", help="comma list of concurrent clients")
    parser.add_argument("--max-batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    prompts = questions(args.requests)
    levels = [int(x) for x in args.concurrency.split(",")]

    rows = [("bare generate", 1, bare(args.model, prompts, args.max_tokens))]
    proc, url = start_server(args.model, args.max_batch_size)
    try:
        served(url, prompts[:2], 2, 1)  # warm up
        rows += [("ftcore serve", n, served(url, prompts, args.max_tokens, n)) for n in levels]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    base = rows[0][2]["tokens"] / rows[0][2]["wall"]
    print(f"\n{args.model}: {args.requests} requests, max_tokens {args.max_tokens}, greedy")
    print(f"{'':15} {'clients':>7} {'tokens':>7} {'wall s':>8} {'tokens/s':>9} {'vs bare':>8} "
          f"{'TTFT p50 ms':>12} {'TTFT p90 ms':>12}")
    for name, clients, r in rows:
        tps = r["tokens"] / r["wall"]
        print(f"{name:15} {clients:>7} {r['tokens']:>7} {r['wall']:>8.2f} {tps:>9.1f} {tps / base:>7.2f}x "
              f"{1000 * statistics.median(r['ttft']):>12.1f} {1000 * _pct(r['ttft'], 0.9):>12.1f}")


if __name__ == "__main__":
    main()

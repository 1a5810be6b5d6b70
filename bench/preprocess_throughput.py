"""Preprocessing throughput: rows/s of ftcore's data stage on synthetic alpaca rows, cold and warm (cached).

    python bench/preprocess_throughput.py                   # the issue's workload: 200k rows
    python bench/preprocess_throughput.py --rows 20000      # quicker
    python bench/preprocess_throughput.py --num-proc 2 --lazy

Rows are generated on the spot, deterministic: alpaca ``instruction`` / ``input`` / ``output`` of random English
words (about 20 / 0-30 / 40-120 words; a third of the rows have no input), written to one jsonl file. The data
stage is ``ftcore.data.prepare_data`` with the real Qwen2.5 tokenizer and the ``chatml`` template
(max_length 2048), ``sample = -1``, ``test_ratio = 0.01``.

Phases, each in its own subprocess (so its peak RSS is its own):

- ``cold``: empty caches: the json → Arrow conversion, normalization, tokenization, and writing the cache entry;
- ``warm``: the same run again: the tokenized cache is found, nothing is re-tokenized;
- ``lazy`` (``--lazy``): normalization only up front; tokenizing every sample on access is timed separately.

rows/s = input rows / wall time of ``prepare_data``. Peak RSS is the process's maximum resident set (plus its
largest child with ``--num-proc`` > 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the model learns to answer questions about data tokens training small large fast slow cache "
         "window sequence batch loss gradient layer attention memory python file format column row value "
         "language chinese english translate summary explain write code list table number example").split()


def make_rows(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)

    def words(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row = {"instruction": words(10, 30), "input": "" if i % 3 == 0 else words(0, 30),
                   "output": words(40, 120)}
            f.write(json.dumps(row) + "\n")


def phase(args: argparse.Namespace) -> None:
    """One timed prepare_data in this process; prints a JSON line."""
    from ftcore.config import config_from_dict
    from ftcore.data.pipeline import prepare_data
    from ftcore.templates import get_template
    from ftcore.testing import qwen25_tokenizer

    tok = qwen25_tokenizer()
    template = get_template("chatml", tok, max_length=2048)
    cfg = config_from_dict(
        {"data": {"datasets": [str(args.file)], "sample": -1, "test_ratio": 0.01, "num_proc": args.num_proc,
                  "lazy": args.phase == "lazy"}},
        base_dir=str(args.file.parent),
    )
    t0 = time.perf_counter()
    out = prepare_data(cfg, template, tok)
    seconds = time.perf_counter() - t0
    result = {"phase": args.phase, "rows": args.rows, "seconds": round(seconds, 2),
              "rows_per_s": round(args.rows / seconds), "train": len(out.train),
              "cache_hit": out.cache_hit}
    if args.phase == "lazy":
        t0 = time.perf_counter()
        tokens = sum(len(out.train[i]["input_ids"]) for i in range(len(out.train)))
        access = time.perf_counter() - t0
        result["access_seconds"] = round(access, 2)
        result["access_rows_per_s"] = round(len(out.train) / access)
        result["tokens"] = tokens
    elif out.train is not None:
        result["tokens"] = int(sum(out.train["length"]))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_rss_mb"] = round(own / 1024)
    if kids:
        result["peak_rss_child_mb"] = round(kids / 1024)
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--lazy", action="store_true", help="also time lazy mode")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args)
        return
    with tempfile.TemporaryDirectory(prefix="ftcore-bench-") as tmp:
        env = dict(os.environ, FTCORE_CACHE=os.path.join(tmp, "ftcore"), HF_HOME=os.path.join(tmp, "hf"),
                   HF_HUB_OFFLINE="1")
        path = Path(tmp) / "alpaca.jsonl"
        t0 = time.perf_counter()
        make_rows(path, args.rows)
        print(f"# {args.rows} rows, {path.stat().st_size / 2**20:.1f} MiB, generated in "
              f"{time.perf_counter() - t0:.1f} s; num_proc={args.num_proc}", flush=True)
        phases = ["cold", "warm"] + (["lazy"] if args.lazy else [])
        results = []
        for name in phases:
            cmd = [sys.executable, __file__, "--phase", name, "--file", str(path), "--rows", str(args.rows),
                   "--num-proc", str(args.num_proc)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode or not lines:
                sys.stderr.write(proc.stderr[-4000:])
                raise SystemExit(f"phase {name} failed")
            results.append(json.loads(lines[-1]))
            print(lines[-1], flush=True)
        print()
        print(f"{'phase':<6} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}  notes")
        for r in results:
            note = "cache hit" if r.get("cache_hit") else ""
            if r["phase"] == "lazy":
                note = f"then {r['access_rows_per_s']} rows/s tokenized on access"
            rss = str(r["peak_rss_mb"]) + (f" (+child {r['peak_rss_child_mb']})" if r.get("peak_rss_child_mb") else "")
            print(f"{r['phase']:<6} {r['seconds']:>8} {r['rows_per_s']:>9} {rss:>12}  {note}")


if __name__ == "__main__":
    main()

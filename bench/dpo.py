"""DPO + LoRA throughput and memory: ftcore's DPO stage vs TRL's DPOTrainer (``ref_model=None``, peft), one run.

    python bench/dpo.py              # the issue's workload: 200 preference pairs
    python bench/dpo.py --quick      # 16 short pairs: checks that every run works (no meaningful timing)
    python bench/dpo.py --runs trl,ftcore

The pairs are generated on the spot and deterministic: chatml prompts of the real Qwen2.5 tokenizer's tokens
(system + question, ~40-300 tokens) with a chosen and a rejected answer (~20-300 tokens each), given to both
trainers as the same token ids (``prompt_ids``, ``chosen_ids``, ``rejected_ids``; TRL's own tokenization is
skipped). The model is bench/train_throughput.py's: Qwen2 architecture, hidden 256, 4 layers, the 152k Qwen2.5
vocabulary, tied embedding, random weights, fp32 on the CPU. Both train LoRA r8 on all linear layers (the
reference = the base with the adapter disabled, no second model), beta 0.1, sigmoid loss, batch 8 pairs,
1 epoch, AdamW lr 1e-4. Each run is its own subprocess, so its peak RSS is its own.

Runs (``--runs``): ``trl`` (trl.DPOTrainer: 2B padded rows, full logits), ``ftcore`` (ftcore's DPOTrainer:
padding-free pair rows, the LM head on answer tokens only), ``ftcore-padded`` (ftcore with 2B padded rows).

"real tokens/s" counts every pair's real tokens (prompt twice, both answers; never padding) over the wall time of
the training loop alone (model building and data preparation excluded).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import WORDS, lora_config, make_model, training_args  # noqa: E402

RUNS = ["trl", "ftcore", "ftcore-padded"]
DEFAULT_RUNS = ["trl", "ftcore"]
BATCH = 8
SEED = 0


def make_pairs(n: int, quick: bool = False, seed: int = SEED) -> list[dict[str, list[int]]]:
    """Preference pairs as token ids: a chatml prompt (ending with the assistant header), two answers + <|im_end|>."""
    from ftcore.testing import qwen25_tokenizer

    tok = qwen25_tokenizer()
    rnd = random.Random(seed)
    stream = tok(" ".join(rnd.choice(WORDS) for _ in range(40_000)), add_special_tokens=False)["input_ids"]
    start, end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    nl = tok("\n", add_special_tokens=False)["input_ids"]

    def piece(k: int) -> list[int]:
        at = rnd.randrange(0, len(stream) - k - 1)
        return stream[at:at + k]

    def role(name: str) -> list[int]:
        return [start] + tok(name, add_special_tokens=False)["input_ids"] + nl

    def length(median: float, low: int, high: int) -> int:
        return max(low, min(high, int(rnd.lognormvariate(math.log(median), 0.5))))

    scale = 0.2 if quick else 1.0
    pairs = []
    for _ in range(n):
        prompt = role("system") + piece(rnd.randint(6, 14)) + [end] + nl + role("user") + \
            piece(length(90 * scale, 4, 300)) + [end] + nl + role("assistant")
        pairs.append({"prompt_ids": prompt, "chosen_ids": piece(length(100 * scale, 4, 300)) + [end],
                      "rejected_ids": piece(length(80 * scale, 4, 300)) + [end]})
    return pairs


def real_tokens(pairs: list[dict[str, list[int]]]) -> int:
    return sum(2 * len(p["prompt_ids"]) + len(p["chosen_ids"]) + len(p["rejected_ids"]) for p in pairs)


def base_model() -> Any:
    """bench/train_throughput.py's model without its adapter (TRL adds its own from the peft config)."""
    return make_model().get_base_model()


def run_trl(pairs: list[dict]) -> dict[str, Any]:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from ftcore.testing import qwen25_tokenizer

    class PreTokenized(DPOTrainer):  # the pairs are already token ids: skip TRL's prompt extraction / tokenizing
        def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
            return dataset

    model = base_model()
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(**training_args(out), beta=0.1, loss_type=["sigmoid"], max_length=None)
        trainer = PreTokenized(model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(pairs),
                               processing_class=qwen25_tokenizer(), peft_config=lora_config())
        t0, c0 = time.perf_counter(), time.process_time()
        result = trainer.train()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "loss": result.training_loss, "via": "trl.DPOTrainer"}


def run_ftcore(pairs: list[dict], padding_free: bool = True) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainingArguments

    from ftcore.config.stages import DPOOptions
    from ftcore.training.stages.dpo import DPOTrainer
    from ftcore.training.stages.preference import PairCollator, ReferenceModel

    model = make_model()  # LoRA r8 all-linear, as TRL's peft_config
    with tempfile.TemporaryDirectory() as out:
        trainer = DPOTrainer(model=model, args=TrainingArguments(**training_args(out)),
                             train_dataset=Dataset.from_list(pairs),
                             data_collator=PairCollator(pad_token_id=0, padding_free=padding_free),
                             stage_options=DPOOptions(beta=0.1, loss_type="sigmoid"),
                             reference=ReferenceModel("adapter"), loss_only_head=True)
        t0, c0 = time.perf_counter(), time.process_time()
        result = trainer.train()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "loss": result.training_loss, "via": "ftcore DPOTrainer"}


RUNNERS = {
    "trl": run_trl,
    "ftcore": lambda p: run_ftcore(p, padding_free=True),
    "ftcore-padded": lambda p: run_ftcore(p, padding_free=False),
}


def child(name: str, n: int, quick: bool) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    pairs = make_pairs(n, quick)
    tokens = real_tokens(pairs)
    result = RUNNERS[name](pairs)
    result.update(name=name, tokens=tokens, tokens_per_s=tokens / result["seconds"],
                  tokens_per_cpu_s=tokens / result["cpu_seconds"],
                  peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2)
    print("RESULT " + json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 short pairs: a smoke run, not a measurement")
    parser.add_argument("--pairs", type=int, default=None, help="number of preference pairs (default 200)")
    parser.add_argument("--runs", default=",".join(DEFAULT_RUNS), help=f"comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.pairs or (16 if args.quick else 200)
    if args.child:
        child(args.child, n, args.quick)
        return 0
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNNERS]
    if unknown:
        parser.error(f"unknown run(s): {', '.join(unknown)}")
    pairs = make_pairs(n, args.quick)
    print(f"workload: {n} pairs, {real_tokens(pairs)} real tokens; Qwen2 hidden 256 x 4 layers, vocab 151,665; "
          f"DPO sigmoid beta 0.1; LoRA r8 all-linear, reference = adapter disabled; batch {BATCH} pairs; 1 epoch; "
          f"fp32; {os.cpu_count()} cpus", flush=True)
    results = []
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    for name in runs:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", name, "--pairs", str(n), *(["--quick"] if args.quick else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
            continue
        res = json.loads(line[len("RESULT "):])
        results.append(res)
        print(f"  {name:<14} {res['tokens_per_s']:8.1f} tok/s  {res['tokens_per_cpu_s']:8.1f} tok/cpu-s  "
              f"{res['peak_rss_gb']:5.2f} GB  loss {res['loss']:.4f}  ({time.perf_counter() - t0:.0f} s with setup)",
              flush=True)
    by = {r["name"]: r for r in results}
    trl = by.get("trl")
    print()
    print("| run | via | real tokens/s | tokens/CPU-s | peak RSS | train loss | × TRL (wall / CPU) | RSS vs TRL |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        vs = f"{r['tokens_per_s'] / trl['tokens_per_s']:.2f} / {r['tokens_per_cpu_s'] / trl['tokens_per_cpu_s']:.2f}" \
            if trl else "-"
        rss = f"{r['peak_rss_gb'] / trl['peak_rss_gb']:.2f}" if trl else "-"
        print(f"| {r['name']} | {r['via']} | {r['tokens_per_s']:.1f} | {r['tokens_per_cpu_s']:.1f} "
              f"| {r['peak_rss_gb']:.2f} GB | {r['loss']:.4f} | {vs} | {rss} |")
    goal = by.get("ftcore")
    if goal and trl:
        print(f"\ngoal: ftcore = {goal['tokens_per_s'] / trl['tokens_per_s']:.2f}x TRL's tokens/s (>= 1.5), peak RSS "
              f"{goal['peak_rss_gb']:.2f} GB vs TRL {trl['peak_rss_gb']:.2f} GB (<=)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"pairs": n, "results": results}, fh, indent=2)
    return 0 if len(results) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())

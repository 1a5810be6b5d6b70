"""Generation throughput: batched (``ftcore.inference.generate_batch``) vs one sample at a time, as evaluation
(``eval.predict_with_generate``, ``ftcore eval``) answers its validation rows.

    python bench/generate.py                        # 64 validation prompts, 64 new tokens, batch 8 and 16
    python bench/generate.py --rows 4 --new-tokens 4 --batch-sizes 2   # a quick check that it runs

The prompts are the first ``--rows`` chats of bench/train_throughput.py's workload (real Qwen2.5 tokens, cut before
the answer), the model its Qwen2 architecture (hidden 256, 4 layers, the 152k vocabulary, random weights) in fp32,
greedy decoding through the ``chatml`` template (stop ids ``<|im_end|>`` and eos). Random weights rarely emit a
stop token, so every answer runs to ``--new-tokens``: both paths do the same work. Prints samples/s of each and
whether the batched answers equal the one-by-one answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def setup(rows: int) -> tuple[Any, Any, list[list[int]]]:
    import torch
    from train_throughput import IGNORE, make_model, make_workload

    from ftcore.templates import get_template
    from ftcore.testing import qwen25_tokenizer

    tokenizer = qwen25_tokenizer()
    template = get_template("chatml", tokenizer)
    model = make_model().get_base_model()  # the base model without LoRA
    model.eval()
    torch.manual_seed(0)
    prompts = []
    for sample in make_workload(rows):
        first = next(i for i, x in enumerate(sample["labels"]) if x != IGNORE)
        prompts.append(sample["input_ids"][:first])
    return model, template, prompts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64, help="validation prompts")
    parser.add_argument("--new-tokens", type=int, default=64, help="max_new_tokens")
    parser.add_argument("--batch-sizes", default="8,16", help="comma-separated batch sizes to time")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    from ftcore.inference import generate_batch, inference

    model, template, prompts = setup(args.rows)
    settings = {"do_sample": False, "max_new_tokens": args.new_tokens, "repetition_penalty": 1.0}
    lengths = sorted(len(p) for p in prompts)
    print(f"{len(prompts)} prompts (median {lengths[len(lengths) // 2]} tokens, longest {lengths[-1]}), "
          f"{args.new_tokens} new tokens, greedy, fp32", flush=True)
    t0 = time.perf_counter()
    one = [inference(model, template, input_ids=p, **settings) for p in prompts]
    single = time.perf_counter() - t0
    results: dict[str, Any] = {"one-by-one": {"seconds": single, "samples_per_s": len(prompts) / single}}
    print(f"  one by one        {len(prompts) / single:7.2f} samples/s  ({single:.1f} s)", flush=True)
    for size in (int(b) for b in args.batch_sizes.split(",") if b.strip()):
        t0 = time.perf_counter()
        batched = generate_batch(model, template, prompts, batch_size=size, **settings)
        seconds = time.perf_counter() - t0
        same = sum(a == b for a, b in zip(batched, one, strict=True))
        results[f"batch-{size}"] = {"seconds": seconds, "samples_per_s": len(prompts) / seconds,
                                    "speedup": single / seconds, "equal_answers": same}
        print(f"  batch {size:<11} {len(prompts) / seconds:7.2f} samples/s  ({seconds:.1f} s, "
              f"{single / seconds:.2f}× one by one; {same}/{len(prompts)} answers equal)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tuning methods compared with plain LoRA on the throughput workload's model: step time and peak RSS.

    python bench/tuners.py                          # every case of the tuner table, 400 samples, one run each
    python bench/tuners.py --samples 16 --methods lora,ia3,freeze   # a quick check that it runs

The workload and the model are bench/train_throughput.py's (Qwen2 architecture, hidden 256, 4 layers, the Qwen2.5
vocabulary, generated chat samples, packed rows of 1024 tokens, batch 8, fp32 on the CPU). Each method is applied
with ftcore's tuner (``apply_tuner``) with the options of its case in ftcore.testing.tuners (targets: every Linear)
and trained for one epoch by ftcore's Trainer with the method's training hooks (LoRA+'s optimizer, AdaLoRA's
allocation, GaLore's optimizer arguments). Each method runs in its own subprocess, so its peak RSS is its own.
"step" is the mean wall time of one optimizer step over the training loop.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import MAX_LENGTH, SEED, make_model, make_workload, training_args  # noqa: E402


def cases() -> dict[str, dict[str, Any]]:
    from ftcore.testing.tuners import TUNER_CASES

    return TUNER_CASES


def run_case(name: str, n_samples: int) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainingArguments

    from ftcore.config import config_from_dict
    from ftcore.data.collate import make_collator
    from ftcore.data.packing import pack_dataset
    from ftcore.registry import get_catalog
    from ftcore.specs import TunerOptions
    from ftcore.testing import qwen25_tokenizer
    from ftcore.training.trainer import FtcoreTrainer
    from ftcore.tuners import apply_tuner, linear_module_names, training_hook

    case = cases()[name]
    tuner = {"rank": 8, "alpha": 16, "dropout": 0.05, **case["tuner"]}
    method = tuner.pop("method")
    spec = get_catalog().tuners.get(method)
    model = make_model().unload()  # the throughput model without its LoRA
    options_model = spec.options_model()
    method_options = None
    if options_model is not None:
        own = set(options_model.model_fields)
        method_options = options_model.model_validate({k: v for k, v in tuner.items() if k in own})
    options = TunerOptions(method=method, rank=tuner["rank"], alpha=tuner["alpha"], dropout=tuner["dropout"],
                           targets=linear_module_names(model) if spec.needs_targets else [],
                           method_options=method_options)
    if method == "adalora":
        options.method_options = method_options.model_copy(update={"total_step": 1000})
    samples = make_workload(n_samples)
    tok = qwen25_tokenizer()
    cfg = config_from_dict({"data": {"packing": True}})
    data = pack_dataset(Dataset.from_list(samples), MAX_LENGTH, seed=SEED)
    calibrate = training_hook(options, "use_calibration_data")
    if calibrate is not None:  # EVA / CorDA initialise from training batches (a run gives 8; the bench 1)
        collate = make_collator(cfg, tok)

        def first_batches(n_batches: int = 1) -> list[Any]:  # one batch: the init is slow on CPU
            rows = [data[i] for i in range(min(len(data), n_batches * 8))]
            return [collate(rows[i:i + 8]) for i in range(0, len(rows), 8)]

        calibrate(first_batches)
    model = apply_tuner(model, options)
    hook = training_hook(options, "training_arguments")
    extra = hook() if hook else {}
    neftune = case.get("train", {}).get("neftune_alpha")
    if neftune:
        extra["neftune_noise_alpha"] = neftune
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(**training_args(out, **extra))
        trainer = FtcoreTrainer(model=model, args=args, train_dataset=data, data_collator=make_collator(cfg, tok),
                                tuner_options=options)
        callbacks = training_hook(options, "callbacks")
        for callback in callbacks() if callbacks else []:
            trainer.add_callback(callback)
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
        steps = max(1, trainer.state.global_step)
    return {"name": name, "method": method, "seconds": seconds, "steps": steps, "step_s": seconds / steps,
            "loss": result.training_loss,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400, help="number of chat samples (default 400)")
    parser.add_argument("--methods", default=None, help="comma-separated cases (default: all; lora always runs)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import warnings

        warnings.filterwarnings("ignore")
        print("RESULT " + json.dumps(run_case(args.child, args.samples)), flush=True)
        return 0
    names = list(cases()) if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [n for n in names if n not in cases()]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)} (known: {', '.join(cases())})")
    names = ["lora"] + [n for n in names if n != "lora"]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    results: list[dict[str, Any]] = []
    for name in names:
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--samples", str(args.samples)],
                              capture_output=True, text=True, env=env)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name}: FAILED (exit {proc.returncode})\n{proc.stderr[-2000:]}", flush=True)
            continue
        results.append(json.loads(line[len("RESULT "):]))
    base = next((r for r in results if r["name"] == "lora"), None)
    print(f"\n{'method':<18} {'step s':>8} {'x LoRA':>7} {'peak RSS GB':>12} {'x LoRA':>7} {'loss':>8}")
    for r in results:
        step = f"{r['step_s'] / base['step_s']:.2f}" if base else "-"
        rss = f"{r['peak_rss_gb'] / base['peak_rss_gb']:.2f}" if base else "-"
        print(f"{r['name']:<18} {r['step_s']:8.3f} {step:>7} {r['peak_rss_gb']:12.2f} {rss:>7} {r['loss']:8.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if len(results) == len(names) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Time to first step: ftcore vs TRL's SFTTrainer on the same workload, from launching the process to the end of the
first optimizer step.

    python bench/first_step.py                  # 400 chats (bench/train_throughput.py's workload)
    python bench/first_step.py --samples 16     # a quick check that it runs

The workload's chats (real Qwen2.5 tokens decoded to text: system, user, assistant) are written to a JSONL file
and its model (Qwen2, hidden 256, 4 layers, the 152k vocabulary, random weights, fp32) to a folder with the Qwen2.5
tokenizer; both runs train LoRA r8 on all linear layers, batch 8, one step, on the CPU, from a cold process:

- ``ftcore``: ``python -m ftcore train run.toml`` with ``FTCORE_PROFILE=1`` (its breakdown is printed below);
- ``trl``: a script building ``SFTTrainer`` (the tokenizer's chat template, ``assistant_only_loss`` off,
  no packing) with a callback marking the first step.

Each is timed by this process from ``Popen`` to the line its first step prints (so interpreter start and imports
count). Run it twice: the first ftcore run fills the tokenized-data cache, which is what a repeated run sees;
``--fresh-cache`` empties it for each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

TRL_CHILD = r'''
import sys, json, os
data_file, model_dir, out = sys.argv[1:4]
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

class First(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        print("FIRST STEP", flush=True)

tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
data = load_dataset("json", data_files=data_file, split="train")
args = SFTConfig(output_dir=out, per_device_train_batch_size=8, max_steps=1, learning_rate=1e-4,
                 logging_strategy="no", save_strategy="no", report_to="none", use_cpu=True,
                 dataloader_num_workers=0, max_length=1024, packing=False)
lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora,
                     callbacks=[First()])
trainer.train()
'''


def write_inputs(folder: Path, samples: int) -> tuple[Path, Path]:
    from train_throughput import make_model, make_workload

    from ftcore.testing import qwen25_tokenizer

    tok = qwen25_tokenizer()
    rows = []
    for s in make_workload(samples):
        text = tok.decode(s["input_ids"])
        parts = [p.split("\n", 1) for p in text.split("<|im_start|>")[1:]]
        messages = [{"role": role, "content": body.split("<|im_end|>")[0]} for role, body in parts]
        rows.append({"messages": messages})
    data = folder / "chats.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    model_dir = folder / "model"
    model = make_model().get_base_model()
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return data, model_dir


def timed(cmd: list[str], marker: str, env: dict[str, str]) -> tuple[float | None, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = None
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if seen is None and marker in line:
            seen = time.perf_counter() - t0
    proc.wait()
    return (seen if proc.returncode == 0 else None), "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400, help="chats in the training file")
    parser.add_argument("--runs", default="ftcore,trl", help="comma-separated: ftcore, trl")
    parser.add_argument("--fresh-cache", action="store_true", help="an empty ftcore data cache for each run")
    args = parser.parse_args(argv)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore", "FTCORE_PROFILE": "1"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data, model_dir = write_inputs(folder, args.samples)
        print(f"workload: {args.samples} chats; model {model_dir}", flush=True)
        for name in [r.strip() for r in args.runs.split(",") if r.strip()]:
            if name == "ftcore":
                run = folder / "run.toml"
                run.write_text(
                    f'[model]\npath = "{model_dir}"\n[template]\nname = "chatml"\nmax_length = 1024\n'
                    f'[data]\ndatasets = ["{data}"]\ntest_ratio = 0\n'
                    '[tuner]\nmethod = "lora"\ntargets = "all"\nrank = 8\nalpha = 16\n'
                    '[train]\nmax_steps = 1\nbatch_size = 8\ngrad_accum = 1\nreport_to = []\n'
                    f'dataloader_num_workers = 0\n[output]\ndir = "{folder / "out"}"\n', encoding="utf-8")
                run_env = {**env, **({"FTCORE_CACHE": str(folder / f"cache-{time.time_ns()}")}
                                     if args.fresh_cache else {})}
                seconds, log = timed([sys.executable, "-m", "ftcore", "train", str(run)], "time to first step",
                                     run_env)
                start = log.find("time to first step")
                breakdown = log[start:].splitlines()[:14] if start >= 0 else []
            else:
                seconds, log = timed([sys.executable, "-c", TRL_CHILD, str(data), str(model_dir),
                                      str(folder / "trl-out")], "FIRST STEP", env)
                breakdown = []
            results[name] = seconds
            if seconds is None:
                print(f"{name}: FAILED\n{log[-3000:]}", flush=True)
                continue
            print(f"  {name:<8} {seconds:7.2f} s to the end of step 1 (from process launch)", flush=True)
            for line in breakdown[1:]:
                if line.startswith("  "):
                    print(f"      {line.strip()}")
    if results.get("ftcore") and results.get("trl"):
        print(f"ftcore / TRL: {results['ftcore'] / results['trl']:.2f}×")
    return 0 if all(v is not None for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

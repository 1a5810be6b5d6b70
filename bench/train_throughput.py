"""Training throughput: ftcore (padded / packed / packed + loss-only head) vs TRL's SFTTrainer and a bare torch loop.

    python bench/train_throughput.py            # the issue's workload: 400 chat samples, ~64k real tokens
    python bench/train_throughput.py --quick    # 100 samples, a few minutes on 2 cores
    python bench/train_throughput.py --samples 200 --runs trl,ftcore-packed

Everything is generated on the spot and deterministic: chat samples of the real Qwen2.5 tokenizer's tokens
(a system prompt, a question and an answer; median ~150 tokens, tail to ~1000; loss on the answer only), and a
Qwen2-architecture model (hidden 256, 4 layers, tied 152k-vocabulary embedding, ~43 M parameters, random weights).
Every run trains the same model from the same seed with LoRA r8 on all linear layers, batch 8, 1 epoch,
AdamW lr 1e-4, fp32 on the CPU. Each run is its own subprocess, so its peak RSS is its own.

Runs (``--runs``, comma-separated):

- ``trl``                    TRL SFTTrainer, no packing (pre-tokenized data, labels -100 outside answers)
- ``trl-packed``             TRL SFTTrainer, ``packing=True`` (bfd, padding-free); not in the default set
- ``bare-packed-full``       a plain torch loop on packed rows, the model's own loss (full logits)
- ``bare-packed-losshead``   the same loop, LM head + cross-entropy only where labels != -100 (the reference)
- ``ftcore-padded``          ftcore's Trainer, padding collator, loss-only head
- ``ftcore-grouped``         ftcore's Trainer, padding collator + group-by-length sampler; not in the default set
- ``ftcore-packed-fullhead`` ftcore's Trainer, packed rows, full logits
- ``ftcore-packed``          ftcore's Trainer, packed rows, loss-only head (ftcore's defaults)
- ``bf16``                   ``ftcore-packed`` in bf16: bf16 frozen weights, fp32 LoRA weights, bf16 autocast
                             (``model.dtype = "bf16"``)
- ``bf16-master``            ``ftcore-packed`` with fp32 weights under bf16 autocast (``train.fp32_master``)
- ``compile``                ``ftcore-packed`` + ``torch.compile`` (inductor; rows padded to the compile buckets)
- ``bf16+compile``           ``bf16`` + ``compile``

Every row also shows MFU: the run's model FLOPs (``ftcore.training.flops``: LoRA's 4 × frozen weights + 6 × adapter
weights per token, attention within each sample, the LM head on label positions for the loss-only runs and on every
position for the others) over the loop's wall time, divided by the peak of this machine in the run's precision:
``--peak-fp32`` / ``--peak-bf16`` (FLOP/s), else what ``python bench/peak.py --write`` recorded, else none.

"real tokens/s" counts the samples' tokens (never padding) over the wall time of the training loop alone
(model building and data preparation excluded). The ratios compare with ``bare-packed-losshead`` and ``trl``.
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
from typing import Any

DEFAULT_RUNS = ["trl", "bare-packed-full", "bare-packed-losshead", "ftcore-padded", "ftcore-packed-fullhead",
                "ftcore-packed", "bf16", "bf16-master", "compile", "bf16+compile"]
ALL_RUNS = DEFAULT_RUNS + ["trl-packed", "ftcore-grouped"]
#: runs in bf16 (their MFU uses the bf16 peak) and runs applying the LM head at every position
BF16_RUNS = {"bf16", "bf16-master", "bf16+compile"}
FULL_HEAD_RUNS = {"trl", "trl-packed", "bare-packed-full", "ftcore-packed-fullhead"}
MAX_LENGTH = 1024  # longest sample and packed row length
BATCH = 8
LR = 1e-4
SEED = 0
IGNORE = -100

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can out up into do any your "
    "what model data train token answer question system user assistant learning fine tune layer weight value "
    "time year people way day man thing woman life child world school state family student group country problem "
    "hand part place case week company number point government night water room mother area money story fact "
    "month lot right study book eye job word business issue side kind head house service friend father power "
    "hour game line end member law car city community name president team minute idea kid body information back "
    "parent face others level office door health person art war history party result change morning reason "
    "research girl guy moment air teacher force education 模型 数据 训练 问题 回答 系统 用户 学习 语言 计算"
).split()


# --------------------------------------------------------------------------------------------------
# The workload


def make_workload(n_samples: int, seed: int = SEED) -> list[dict[str, list[int]]]:
    """Encoded chat samples: ``input_ids`` (chatml) and ``labels`` (-100 except the answer and its end token)."""
    from ftcore.testing import qwen25_tokenizer

    tok = qwen25_tokenizer()
    rnd = random.Random(seed)
    text = " ".join(rnd.choice(WORDS) for _ in range(60_000))
    stream = tok(text, add_special_tokens=False)["input_ids"]
    start, end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    nl = tok("\n", add_special_tokens=False)["input_ids"]

    def piece(n: int) -> list[int]:
        at = rnd.randrange(0, len(stream) - n - 1)
        return stream[at:at + n]

    def role(name: str) -> list[int]:
        return [start] + tok(name, add_special_tokens=False)["input_ids"] + nl

    samples = []
    for k in range(n_samples):
        # lengths: log-normal around 150 tokens, and one sample in 80 long (600-1000 tokens)
        total = int(rnd.lognormvariate(math.log(147), 0.35))
        if k % 80 == 7:
            total = rnd.randint(600, 1000)
        total = max(40, min(MAX_LENGTH - 24, total))
        system = role("system") + piece(rnd.randint(6, 14)) + [end] + nl
        q_len = max(4, int(total * rnd.uniform(0.25, 0.55)))
        a_len = max(4, total - q_len - len(system) - 10)
        user = role("user") + piece(q_len) + [end] + nl
        prompt = system + user + role("assistant")
        answer = piece(a_len) + [end]
        ids = (prompt + answer + nl)[:MAX_LENGTH]
        labels = ([IGNORE] * len(prompt) + answer + [IGNORE] * len(nl))[:MAX_LENGTH]
        samples.append({"input_ids": ids, "labels": labels})
    return samples


def make_model(weights_dtype: str = "fp32") -> Any:
    """Qwen2 architecture, hidden 256, 4 layers, the Qwen2.5 vocabulary, tied embedding; LoRA r8 all-linear."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Qwen2Config

    from ftcore.testing import qwen25_tokenizer

    tok = qwen25_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(SEED)
    dtype = torch.bfloat16 if weights_dtype == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return get_peft_model(model, lora_config())  # peft keeps the LoRA weights in fp32


def lora_config() -> Any:
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")


def training_args(out: str, **extra: Any) -> dict[str, Any]:
    return dict(
        output_dir=out, per_device_train_batch_size=BATCH, num_train_epochs=1, learning_rate=LR,
        logging_strategy="no", save_strategy="no", eval_strategy="no", report_to="none", use_cpu=True,
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True, seed=SEED, data_seed=SEED,
        **extra,
    )


# --------------------------------------------------------------------------------------------------
# The runs (each in its own process)


def run_trl(samples: list[dict], packed: bool) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM  # noqa: F401  (import cost outside the timed part)
    from trl import SFTConfig, SFTTrainer

    from ftcore.testing import qwen25_tokenizer

    model = make_model()
    extra = dict(packing=True, max_length=MAX_LENGTH) if packed else dict(packing=False, max_length=MAX_LENGTH)
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(**training_args(out), **extra)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(samples),
                             processing_class=qwen25_tokenizer())
        t0, c0 = time.perf_counter(), time.process_time()
        result = trainer.train()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "loss": result.training_loss, "via": "trl.SFTTrainer"}


def run_bare(samples: list[dict], loss_only_head: bool) -> dict[str, Any]:
    """The reference loop: packed rows (ftcore's packing), AdamW, grad clipping; no Trainer."""
    import torch

    from ftcore.data.packing import PackedCollator, pack_dataset

    model = make_model()
    model.train()
    rows = pack_dataset(samples, MAX_LENGTH, seed=SEED)
    collate = PackedCollator(pad_token_id=0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR)
    base = model.get_base_model()
    decoder, head = base.model, base.lm_head
    losses = []
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(0, len(rows), BATCH):
        batch = collate(rows[k:k + BATCH])
        if loss_only_head:
            hidden = decoder(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                             use_cache=False).last_hidden_state
            targets = batch["labels"][:, 1:]
            keep = targets != IGNORE
            logits = head(hidden[:, :-1][keep]).float()
            loss = torch.nn.functional.cross_entropy(logits, targets[keep])
        else:
            loss = model(**batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "loss": sum(losses) / len(losses), "via": "torch loop"}


def run_ftcore(samples: list[dict], packing: bool, loss_only_head: bool, group_by_length: bool = False,
               bf16: str | None = None, compile: bool = False) -> dict[str, Any]:
    """ftcore's Trainer path: FtcoreTrainer + make_collator + pack_dataset + causal_lm_loss (+ the sampler)."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from ftcore.config import config_from_dict
    from ftcore.data.packing import pack_dataset
    from ftcore.testing import qwen25_tokenizer
    from ftcore.training.loss import causal_lm_loss
    from ftcore.training.sampler import LengthGroupedSampler, lengths_of

    cfg = config_from_dict({"data": {"packing": packing, "group_by_length": group_by_length},
                            "train": {"loss_only_head": loss_only_head}})
    tok = qwen25_tokenizer()
    try:
        from ftcore.data.collate import make_collator

        collator = make_collator(cfg, tok)
    except ImportError:  # before the data package's collator landed
        from ftcore.data.packing import PackedCollator

        collator = PackedCollator(pad_token_id=tok.pad_token_id)
    try:
        from ftcore.training.trainer import FtcoreTrainer as TrainerClass

        via = "FtcoreTrainer"
        kw: dict[str, Any] = {"loss_only_head": loss_only_head}
    except ImportError:  # before the training package's Trainer landed: the same loss through a Trainer
        class TrainerClass(Trainer):  # type: ignore[no-redef]
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                return causal_lm_loss(model, inputs, num_items_in_batch=num_items_in_batch,
                                      loss_only_head=loss_only_head, return_outputs=return_outputs)

        via = "Trainer+causal_lm_loss"
        kw = {}
    data = Dataset.from_list(samples)
    if packing:
        data = pack_dataset(data, MAX_LENGTH, seed=SEED)
    extra: dict[str, Any] = {}
    if compile:  # what train.compile does: bucketed batch lengths, static shapes, the Trainer's torch_compile
        from ftcore.training.compile import compile_buckets, configure_dynamo, set_buckets

        buckets = compile_buckets(config_from_dict({"template": {"max_length": MAX_LENGTH}}))
        configure_dynamo(len(buckets))
        collator = set_buckets(collator, buckets)
        extra["torch_compile"] = True
    if bf16:
        extra["bf16"] = True  # autocast
    model = make_model(weights_dtype="bf16" if bf16 == "weights" else "fp32")
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(**training_args(out, **extra))
        trainer = TrainerClass(model=model, args=args, train_dataset=data, data_collator=collator, **kw)
        if group_by_length:
            sampler = LengthGroupedSampler(lengths_of(data), BATCH, seed=SEED)
            trainer._get_train_sampler = lambda *a, **k: sampler  # what FtcoreTrainer does with data.group_by_length
        t0, c0 = time.perf_counter(), time.process_time()
        result = trainer.train()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "loss": result.training_loss, "via": via}


RUNNERS = {
    "trl": lambda s: run_trl(s, packed=False),
    "trl-packed": lambda s: run_trl(s, packed=True),
    "bare-packed-full": lambda s: run_bare(s, loss_only_head=False),
    "bare-packed-losshead": lambda s: run_bare(s, loss_only_head=True),
    "ftcore-padded": lambda s: run_ftcore(s, packing=False, loss_only_head=True),
    "ftcore-grouped": lambda s: run_ftcore(s, packing=False, loss_only_head=True, group_by_length=True),
    "ftcore-packed-fullhead": lambda s: run_ftcore(s, packing=True, loss_only_head=False),
    "ftcore-packed": lambda s: run_ftcore(s, packing=True, loss_only_head=True),
    "bf16": lambda s: run_ftcore(s, packing=True, loss_only_head=True, bf16="weights"),
    "bf16-master": lambda s: run_ftcore(s, packing=True, loss_only_head=True, bf16="master"),
    "compile": lambda s: run_ftcore(s, packing=True, loss_only_head=True, compile=True),
    "bf16+compile": lambda s: run_ftcore(s, packing=True, loss_only_head=True, bf16="weights", compile=True),
}


def workload_flops(samples: list[dict], loss_only_head: bool) -> float:
    """Model FLOPs of one epoch over ``samples`` (ftcore.training.flops; samples never attend to each other)."""
    from ftcore.training.flops import FlopsModel

    model = make_model()
    flops = FlopsModel.from_model(model, loss_only_head=loss_only_head)
    assert flops is not None
    tokens = sum(len(s["input_ids"]) for s in samples)
    labels = sum(sum(1 for x in s["labels"][1:] if x != IGNORE) for s in samples)
    context = sum(len(s["input_ids"]) * (len(s["input_ids"]) + 1) // 2 for s in samples)
    return flops.step_flops(tokens, labels, context)


def machine_peaks(fp32: float | None, bf16: float | None) -> dict[str, float | None]:
    """This machine's matmul peaks: the flags, else bench/peak.py's record (ftcore.models.peak)."""
    from ftcore.models.peak import peak_flops

    return {"fp32": fp32 or peak_flops("fp32")[0], "bf16": bf16 or peak_flops("bf16")[0]}


def child(name: str, n_samples: int) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    samples = make_workload(n_samples)
    tokens = sum(len(s["input_ids"]) for s in samples)
    result = RUNNERS[name](samples)
    result["flops"] = workload_flops(samples, loss_only_head=name not in FULL_HEAD_RUNS)
    result.update(
        name=name,
        tokens=tokens,
        tokens_per_s=tokens / result["seconds"],
        tokens_per_cpu_s=tokens / result["cpu_seconds"],
        peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    )
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------------------
# The table


def _pct(value: float | None) -> str:
    return f"{100 * value:5.1f} %" if value else "   - "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 samples instead of 400")
    parser.add_argument("--samples", type=int, default=None, help="number of chat samples (default 400)")
    parser.add_argument("--runs", default=",".join(DEFAULT_RUNS), help=f"comma-separated, of: {', '.join(ALL_RUNS)}")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--peak-fp32", type=float, default=None, help="fp32 matmul peak, FLOP/s (MFU)")
    parser.add_argument("--peak-bf16", type=float, default=None, help="bf16 matmul peak, FLOP/s (MFU)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.samples or (100 if args.quick else 400)
    if args.child:
        child(args.child, n)
        return 0

    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNNERS]
    if unknown:
        parser.error(f"unknown run(s): {', '.join(unknown)}")
    samples = make_workload(n)
    lengths = sorted(len(s["input_ids"]) for s in samples)
    labels = sum(sum(1 for x in s["labels"] if x != IGNORE) for s in samples)
    print(f"workload: {n} samples, {sum(lengths)} real tokens ({labels} with loss), median {lengths[n // 2]}, "
          f"max {lengths[-1]}; Qwen2 hidden 256 x 4 layers, vocab 151,665; LoRA r8 all-linear; batch {BATCH}; "
          f"1 epoch; fp32; {os.cpu_count()} cpus", flush=True)
    peaks = machine_peaks(args.peak_fp32, args.peak_bf16)
    print("peaks: " + ", ".join(f"{k} {v / 1e9:,.1f} GFLOP/s" if v else f"{k} unknown (python bench/peak.py --write)"
                                for k, v in peaks.items()), flush=True)
    results = []
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    for name in runs:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--samples", str(n)],
                              capture_output=True, text=True, env=env)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
            continue
        res = json.loads(line[len("RESULT "):])
        peak = peaks["bf16" if name in BF16_RUNS else "fp32"]
        res["mfu"] = res["flops"] / res["seconds"] / peak if peak else None
        results.append(res)
        print(f"  {name:<24} {res['tokens_per_s']:8.1f} tok/s  {res['tokens_per_cpu_s']:8.1f} tok/cpu-s  "
              f"MFU {_pct(res['mfu'])}  {res['peak_rss_gb']:5.2f} GB  "
              f"loss {res['loss']:.4f}  ({time.perf_counter() - t0:.0f} s with setup)", flush=True)
    by = {r["name"]: r for r in results}
    ref, trl = by.get("bare-packed-losshead"), by.get("trl")

    def ratio(r: dict, base: dict | None, key: str) -> str:
        return f"{r[key] / base[key]:.2f}" if base else "-"

    print()
    print("| run | via | real tokens/s | tokens/CPU-s | MFU | peak RSS | train loss "
          "| × bare loss-only loop (wall / CPU) | × TRL (wall / CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['name']} | {r['via']} | {r['tokens_per_s']:.1f} | {r['tokens_per_cpu_s']:.1f} "
              f"| {_pct(r['mfu'])} | {r['peak_rss_gb']:.2f} GB | {r['loss']:.4f} "
              f"| {ratio(r, ref, 'tokens_per_s')} / {ratio(r, ref, 'tokens_per_cpu_s')} "
              f"| {ratio(r, trl, 'tokens_per_s')} / {ratio(r, trl, 'tokens_per_cpu_s')} |")
    goal = by.get("ftcore-packed")
    if goal and ref and trl:
        print()
        print(f"goal: ftcore-packed = {ratio(goal, ref, 'tokens_per_s')}× (CPU {ratio(goal, ref, 'tokens_per_cpu_s')}×) "
              f"the bare loss-only loop (≥ 0.95), {ratio(goal, trl, 'tokens_per_s')}× "
              f"(CPU {ratio(goal, trl, 'tokens_per_cpu_s')}×) TRL unpacked (≥ 8), "
              f"peak RSS {goal['peak_rss_gb']:.2f} GB vs TRL {trl['peak_rss_gb']:.2f} GB (≤)")
    fp32 = by.get("ftcore-packed")
    best_bf16 = max((by[n] for n in BF16_RUNS if n in by), key=lambda r: r["tokens_per_s"], default=None)
    if fp32 and best_bf16:
        print(f"goal: best bf16 path ({best_bf16['name']}) = {best_bf16['tokens_per_s'] / fp32['tokens_per_s']:.2f}× "
              f"the fp32 tokens/s (≥ 1.6); best fp32 MFU "
              f"{_pct(max((r['mfu'] or 0) for r in results if r['name'] not in BF16_RUNS))} (≥ 70 %)")
    print("tokens/CPU-s = real tokens / process CPU time of the training loop: steadier than wall time when the "
          "machine is shared")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"samples": n, "results": results}, fh, indent=2)
    return 0 if len(results) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())

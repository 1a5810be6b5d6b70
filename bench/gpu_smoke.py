"""GPU smoke run: what the CPU test suite cannot check, in a few minutes on one CUDA machine.

    python bench/gpu_smoke.py                 # every check (≤ 8 minutes on one GPU)
    python bench/gpu_smoke.py --only qlora,fsdp --samples 200
    nox -s gpu                                # the same in its own environment (CUDA torch, bitsandbytes)

Checks (``--only``, comma-separated; each prints one PASS / FAIL / SKIP line and what it measured):

- ``bf16``        ``model.dtype = "auto"`` resolves to bf16 on a GPU that has it
- ``flash``       flash-attention 2 varlen packing: the logits of a packed (flattened) batch equal each sample's
                  logits run alone (isolation); the same check with sdpa (block-diagonal mask) runs too
- ``qlora``       QLoRA on CUDA bitsandbytes: a tiny model loaded in 4 bits, 3 LoRA steps, finite loss
- ``ddp``         ``ftcore train`` under torchrun (1 process, nccl) — DDP over one GPU
- ``fsdp``        the same with ``train.fsdp = "full_shard"`` (FSDP2 over one GPU), full fine-tuning
- ``throughput``  bench/train_throughput.py's workload (LoRA, packed, loss-only head) in bf16 on the GPU:
                  tokens/s, peak GPU memory, MFU
- ``liger``       bench/gpu_liger.py's check, when that file exists (Liger kernels)
- ``cp``          ``train.context_parallel = 2`` (DeepSpeed Ulysses), only with 2 or more GPUs

MFU = tokens/s × 6 × parameters ÷ the GPU's dense bf16 peak (a table of common GPUs below; ``--peak-tflops``
for others). 6 × parameters per token is the usual forward + backward estimate; LoRA skips the frozen weights'
gradients (about 4 × parameters), so for LoRA the figure errs high by up to 1.5×.

Without CUDA the script prints one line and exits 0 (nothing to check). The exit code is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ["bf16", "flash", "qlora", "ddp", "fsdp", "throughput", "liger", "cp"]

#: dense bf16 peak TFLOP/s by GPU name (the first key found in torch.cuda.get_device_name())
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "GH200": 989.0, "B200": 2250.0, "A100": 312.0,
               "A800": 312.0, "L40S": 362.0, "L40": 181.0, "A10G": 70.0, "A10": 125.0, "L4": 121.0,
               "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0}


class Skip(Exception):
    """A check that cannot run here (the line says why)."""


# --------------------------------------------------------------------------------------------------
# pieces that run anywhere (tests/training/scale/test_gpu_smoke.py checks them on the CPU)


def peak_tflops(device_name: str, override: float | None = None) -> float | None:
    if override:
        return override
    for key, value in PEAK_TFLOPS.items():
        if key.lower() in device_name.lower():
            return value
    return None


def mfu(tokens_per_s: float, n_params: int, peak: float | None) -> float | None:
    """Model FLOPs utilisation: 6 × parameters per token over the peak (None when the peak is unknown)."""
    if not peak:
        return None
    return tokens_per_s * 6.0 * n_params / (peak * 1e12)


def packed_isolation(model: Any, samples: list[list[int]], *, flatten: bool) -> float:
    """Largest |difference| between each sample's logits run alone and its logits inside one packed batch
    (ftcore's PackedCollator; ``flatten``: one row, flash-attention's varlen path)."""
    import torch

    from ftcore.data.packing import PackedCollator, concat_samples

    device = next(model.parameters()).device
    row = concat_samples([{"input_ids": s, "labels": list(s)} for s in samples])
    batch = PackedCollator(pad_token_id=0, flatten=flatten)([row])
    worst = 0.0
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"].to(device), position_ids=batch["position_ids"].to(device),
                       use_cache=False).logits[0].float()
        start = 0
        for s in samples:
            alone = model(input_ids=torch.tensor([s], device=device), use_cache=False).logits[0].float()
            worst = max(worst, float((packed[start:start + len(s)] - alone).abs().max()))
            start += len(s)
    return worst


def liger_hook(path: Path = ROOT / "bench" / "gpu_liger.py") -> Callable[[], Any] | None:
    """The Liger GPU check of bench/gpu_liger.py (its ``gpu_check``, ``check``, ``run`` or ``main``), or None."""
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("ftcore_bench_gpu_liger", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("gpu_check", "check", "run", "main"):
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    return None


def run_file(path: Path, model_dir: str, data_file: str, out: Path, **train: Any) -> Path:
    """A small run.toml (LoRA on the tiny model unless ``tuner`` says otherwise)."""
    import tomli_w

    tuner = train.pop("tuner", {"method": "lora", "rank": 8, "targets": "all"})
    model = train.pop("model", {})
    data = {
        "model": {"path": model_dir, **model},
        "template": {"name": "chatml", "max_length": 256},
        "data": {"datasets": [{"path": data_file}], "test_ratio": 0.0},
        "tuner": tuner,
        "train": {"max_steps": 3, "batch_size": 2, "grad_accum": 1, "logging_steps": 1, "report_to": [],
                  "dataloader_num_workers": 0, "lr": 1e-4, "warmup_ratio": 0.0, **train},
        "output": {"dir": str(out)},
    }
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def tiny_files(folder: Path) -> tuple[str, str]:
    """A tiny random Qwen2 model folder and a 64-row query/response file."""
    from ftcore.testing import build_tiny_model_dir

    model_dir = build_tiny_model_dir(folder / "tiny", arch="qwen2")
    rows = [{"query": f"question {i}: " + "word " * (i % 13), "response": f"answer {i} " + "reply " * (i % 7)}
            for i in range(64)]
    data = folder / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(model_dir), str(data)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(TOKENIZERS_PARALLELISM="false", FTCORE_LOAD_PLUGINS="")
    env.pop("LOCAL_RANK", None)
    env.pop("RANK", None)
    return env


def _torchrun_train(run: Path, nproc: int = 1, timeout: int = 240) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--standalone",
           "-m", "ftcore", "train", str(run)]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-1500:]}")
    result = Path(next(line.split(": ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("output: ")))
    metrics = json.loads((result / "result.json").read_text())["metrics"]
    return {"train_loss": metrics.get("train_loss"), "last_loss": metrics.get("last_loss")}


# --------------------------------------------------------------------------------------------------
# the checks (CUDA)


def check_bf16(ctx: dict[str, Any]) -> dict[str, Any]:
    import torch

    from ftcore.models import resolve_dtype

    got = resolve_dtype("auto")
    want = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert got == want, f"dtype auto -> {got}, expected {want}"
    return {"dtype_auto": got}


def _tiny_model(ctx: dict[str, Any], attn: str, **kwargs: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(ctx["model_dir"], dtype=torch.bfloat16, attn_implementation=attn,
                                                **kwargs).cuda().eval()


def check_flash(ctx: dict[str, Any]) -> dict[str, Any]:
    samples = [list(range(5 + k, 5 + k + n)) for k, n in enumerate((37, 11, 64, 23))]
    out = {"sdpa_max_diff": packed_isolation(_tiny_model(ctx, "sdpa"), samples, flatten=False)}
    assert out["sdpa_max_diff"] < 5e-2, out
    if importlib.util.find_spec("flash_attn") is None:
        raise Skip(f"flash-attn not installed (pip install flash-attn --no-build-isolation); sdpa packing "
                   f"isolation ok: max |diff| {out['sdpa_max_diff']:.2e}")
    out["flash_varlen_max_diff"] = packed_isolation(_tiny_model(ctx, "flash_attention_2"), samples, flatten=True)
    assert out["flash_varlen_max_diff"] < 5e-2, out  # bf16 logits: same kernel, different tiling
    return out


def check_qlora(ctx: dict[str, Any]) -> dict[str, Any]:
    from ftcore.training import train

    run = run_file(ctx["tmp"] / "qlora.toml", ctx["model_dir"], ctx["data"], ctx["tmp"] / "out-qlora",
                   tuner={"method": "qlora", "rank": 8, "targets": "all"})
    result = train(str(run))
    base = result.model.get_base_model() if hasattr(result.model, "get_base_model") else result.model
    assert getattr(base, "is_loaded_in_4bit", False), "the model is not 4-bit"
    loss = result.metrics.get("train_loss")
    assert loss is not None and loss == loss and loss < 1e4, f"train_loss {loss}"
    return {"train_loss": loss, "device": str(next(base.parameters()).device)}


def check_ddp(ctx: dict[str, Any]) -> dict[str, Any]:
    run = run_file(ctx["tmp"] / "ddp.toml", ctx["model_dir"], ctx["data"], ctx["tmp"] / "out-ddp")
    return _torchrun_train(run)


def check_fsdp(ctx: dict[str, Any]) -> dict[str, Any]:
    run = run_file(ctx["tmp"] / "fsdp.toml", ctx["model_dir"], ctx["data"], ctx["tmp"] / "out-fsdp",
                   tuner={"method": "full"}, fsdp="full_shard", gradient_checkpointing=True)
    return _torchrun_train(run)


def check_cp(ctx: dict[str, Any]) -> dict[str, Any]:
    import torch

    if torch.cuda.device_count() < 2:
        raise Skip("context parallelism needs 2 or more GPUs")
    attn = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
    run = run_file(ctx["tmp"] / "cp.toml", ctx["model_dir"], ctx["data"], ctx["tmp"] / "out-cp",
                   model={"attn": attn}, context_parallel=2, deepspeed="zero2", batch_size=1, grad_accum=2)
    if attn == "sdpa":  # packed rows need flash-attention under context parallelism
        text = run.read_text().replace("test_ratio = 0.0", "test_ratio = 0.0\npacking = false")
        run.write_text(text)
    return _torchrun_train(run, nproc=2, timeout=300)


def check_throughput(ctx: dict[str, Any]) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import TrainingArguments

    sys.path.insert(0, str(ROOT / "bench"))
    import train_throughput as tt  # the throughput workload: same samples, model and LoRA

    from ftcore.data.packing import PackedCollator, pack_dataset
    from ftcore.training.trainer import FtcoreTrainer

    samples = tt.make_workload(ctx["samples"])
    data = pack_dataset(Dataset.from_list(samples), tt.MAX_LENGTH, seed=tt.SEED)
    model = tt.make_model().to(torch.bfloat16).cuda()
    n_params = sum(p.numel() for p in model.parameters())
    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(**{**tt.training_args(out), "use_cpu": False, "bf16": True})
        trainer = FtcoreTrainer(model=model, args=args, train_dataset=data, data_collator=PackedCollator(0))
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = trainer.train()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    tokens = sum(len(s["input_ids"]) for s in samples)
    tps = tokens / seconds
    peak = peak_tflops(torch.cuda.get_device_name(), ctx.get("peak_tflops"))
    util = mfu(tps, n_params, peak)
    return {"tokens_per_s": round(tps), "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "mfu": None if util is None else round(util, 4), "params": n_params, "loss": result.training_loss}


def check_liger(ctx: dict[str, Any]) -> dict[str, Any]:
    hook = liger_hook()
    if hook is None:
        raise Skip("bench/gpu_liger.py is not there")
    out = hook()
    return out if isinstance(out, dict) else {"result": out}


RUNNERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "bf16": check_bf16, "flash": check_flash, "qlora": check_qlora, "ddp": check_ddp, "fsdp": check_fsdp,
    "throughput": check_throughput, "liger": check_liger, "cp": check_cp,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(CHECKS), help=f"comma-separated, of: {', '.join(CHECKS)}")
    parser.add_argument("--samples", type=int, default=400, help="throughput workload size (default 400)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for MFU")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        parser.error(f"unknown check(s): {', '.join(unknown)} (known: {', '.join(CHECKS)})")

    import torch

    if not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device here; nothing to check (run it on a machine with a GPU)")
        return 0
    print(f"gpu_smoke: {torch.cuda.get_device_name()} × {torch.cuda.device_count()}, torch {torch.__version__}",
          flush=True)
    failed = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, data = tiny_files(Path(tmp))
        ctx = {"tmp": Path(tmp), "model_dir": model_dir, "data": data, "samples": args.samples,
               "peak_tflops": args.peak_tflops}
        for name in names:
            t0 = time.perf_counter()
            try:
                out = RUNNERS[name](ctx)
                status = "PASS"
            except Skip as exc:
                out, status = {"why": str(exc)}, "SKIP"
            except Exception as exc:  # a failed check is reported, the others still run
                out, status = {"error": f"{type(exc).__name__}: {str(exc)[-1500:]}"}, "FAIL"
                failed += 1
            print(f"{status} {name} ({time.perf_counter() - t0:.1f}s) {json.dumps(out, default=str)}", flush=True)
    print(f"gpu_smoke: {len(names) - failed}/{len(names)} not failed in {time.perf_counter() - start:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Should ``model.dtype = "auto"`` choose bf16 on this CPU? The quick start in fp32 and bf16, loss curves and speed.

    python bench/cpu_bf16.py                    # examples/quickstart.toml, whole (10 epochs), three runs
    python bench/cpu_bf16.py --max-steps 3      # a quick check that it runs

Runs ``examples/quickstart.toml`` (each in its own process, same seed) with ``model.dtype`` = fp32, bf16 (bf16
weights, fp32 LoRA weights, bf16 autocast) and bf16 with ``train.fp32_master`` (fp32 weights, bf16 autocast);
compares every logged training loss and the last eval loss with fp32's (largest relative and absolute difference)
and the tokens/s of the whole run (result.json). A curve *matches* fp32's when every point is within
``--tolerance`` (2 %) of fp32's value or ``--atol`` (0.01 nats) of it, as ``torch.allclose`` compares: the quick
start trains down to a loss of ~0.1, where a 2 % relative bound alone would ask bf16 for 0.002 nats. Then says
whether ``auto`` should pick bf16 here: the CPU reports native bf16 (``ftcore.models.cpu_has_fast_bf16``), the
best bf16 run is faster than fp32 (``--min-speedup``, 1.0) and its curve matches. If so, set ``ftcore.models.AUTO_BF16_ON_CPU = True``
(docs/performance.md, "bf16 on the CPU"). For tokens/s and MFU on the larger throughput workload see
``bench/train_throughput.py --runs ftcore-packed,bf16,bf16-master``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = {"fp32": ["model.dtype=fp32"], "bf16": ["model.dtype=bf16"],
         "bf16-master": ["model.dtype=bf16", "train.fp32_master=true"]}


def run(mode: str, out: Path, max_steps: int | None) -> dict:
    sets = [*MODES[mode], f"output.dir={out}", "train.report_to=[]"]
    if max_steps:
        sets.append(f"train.max_steps={max_steps}")
    cmd = [sys.executable, "-m", "ftcore", "train", str(ROOT / "examples" / "quickstart.toml")]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT),
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: failed\n{proc.stderr[-3000:]}")
    run_dir = max((p.parent for p in out.rglob("result.json")), key=lambda p: p.stat().st_mtime)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metrics = json.loads((run_dir / "result.json").read_text())["metrics"]
    return {"losses": [r["loss"] for r in records if "loss" in r], "eval_loss": metrics.get("eval_loss"),
            "tokens_per_second": metrics.get("tokens_per_second"), "mfu": metrics.get("mfu")}


def _pct(value: float | None) -> str:
    return f"{100 * value:.1f} %" if value else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-steps", type=int, default=None, help="stop each run after N steps")
    parser.add_argument("--tolerance", type=float, default=0.02, help="relative loss difference allowed")
    parser.add_argument("--atol", type=float, default=0.01, help="absolute loss difference allowed (nats)")
    parser.add_argument("--min-speedup", type=float, default=1.0, help="bf16 tokens/s over fp32 needed")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    from ftcore.models import cpu_has_fast_bf16

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            results[mode] = run(mode, Path(tmp) / mode, args.max_steps)
    ref = results["fp32"]
    verdicts = {}
    for mode, r in results.items():
        pairs = list(zip(ref["losses"], r["losses"], strict=False))
        if ref["eval_loss"] and r["eval_loss"]:
            pairs.append((ref["eval_loss"], r["eval_loss"]))
        r["max_rel_diff"] = max((abs(a - b) / abs(a) for a, b in pairs), default=0.0)
        r["max_abs_diff"] = max((abs(a - b) for a, b in pairs), default=0.0)
        r["matches"] = all(abs(a - b) <= args.atol + args.tolerance * abs(a) for a, b in pairs)
        r["speedup"] = (r["tokens_per_second"] or 0) / (ref["tokens_per_second"] or 1)
        print(f"  {mode:<12} {r['tokens_per_second'] or 0:9.1f} tok/s  {r['speedup']:.2f}× fp32  "
              f"MFU {_pct(r['mfu'])}  eval loss {r['eval_loss']}  "
              f"largest loss difference {100 * r['max_rel_diff']:.2f} % / {r['max_abs_diff']:.4f} nats  "
              f"curve {'matches' if r['matches'] else 'DIFFERS'}", flush=True)
        if mode != "fp32":
            verdicts[mode] = r["matches"] and r["speedup"] >= args.min_speedup
    native = cpu_has_fast_bf16()
    good = [m for m, ok in verdicts.items() if ok]
    print(f"native bf16 on this CPU: {native}; bf16 modes within {100 * args.tolerance:.0f} % or {args.atol} nats and ≥ "
          f"{args.min_speedup:.2f}× fp32: {', '.join(good) or 'none'}")
    print(f"=> auto should choose bf16 here: {'yes' if native and good else 'no'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

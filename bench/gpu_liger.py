"""GPU check of ``train.liger``: Liger's kernels against ftcore's own loss-only head and the unpatched model.

Called by the GPU smoke script (``from gpu_liger import run; run(report)``), or alone:

    python bench/gpu_liger.py            # needs a CUDA GPU and liger-kernel

``run(report=None, *, device="cuda", vocab=151_936, hidden=1024, tokens=4096) -> dict`` runs three checks and
calls ``report(name, ok, detail)`` for each (``name``: str, ``ok``: bool, ``detail``: str), then returns
``{name: {"ok": bool, "detail": str, ...figures}}``:

- ``liger-head``: Liger's fused linear cross-entropy (``ftcore.training.liger.liger_head_cross_entropy``) vs
  ftcore's chunked head (``head_cross_entropy_sum``) on ``tokens`` random hidden states, a bf16
  ``vocab × hidden`` head (the Qwen2 vocabulary): loss and hidden / weight gradients within bf16 tolerance,
  equal correct-token counts within 0.5 %, and the time of each;
- ``liger-model``: a small Qwen2 model (bf16, LoRA) with Liger's RoPE / RMSNorm / SwiGLU patches
  (``apply_liger``) vs the same model unpatched, through ``causal_lm_loss`` (``head_impl="liger"`` vs ftcore's):
  loss within 2 % and LoRA gradients' cosine similarity ≥ 0.99;
- ``liger-train``: ``ftcore.training.train`` of the tiny Qwen2 with ``train.liger = true``, bf16, 4 steps:
  finite losses and a result.json with tokens/s and MFU.

Without a GPU or liger-kernel each check reports ``ok = False`` with the reason (no exception).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Report = Callable[[str, bool, str], None]


def _print_report(name: str, ok: bool, detail: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)


def _timed(fn: Callable[[], Any], device: str) -> tuple[Any, float]:
    import torch

    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize(device)
    return out, time.perf_counter() - t0


def check_head(device: str, vocab: int, hidden: int, tokens: int) -> dict[str, Any]:
    import torch

    from ftcore.training.liger import liger_head_cross_entropy
    from ftcore.training.loss import head_cross_entropy_sum

    torch.manual_seed(0)
    head = torch.nn.Linear(hidden, vocab, bias=False, device=device, dtype=torch.bfloat16)
    h0 = torch.randn(tokens, hidden, device=device, dtype=torch.bfloat16)
    y = torch.randint(0, vocab, (tokens,), device=device)

    def ftcore() -> Any:
        h = h0.clone().requires_grad_(True)
        head.weight.grad = None
        stats: dict[str, Any] = {}
        loss = head_cross_entropy_sum(h, y, head, stats=stats)
        loss.backward()
        return float(loss), int(stats["correct"]), h.grad.float(), head.weight.grad.float()

    def liger() -> Any:
        h = h0.clone().requires_grad_(True)
        head.weight.grad = None
        loss, correct = liger_head_cross_entropy(h, head.weight, None, y)
        loss.backward()
        return float(loss), int(correct), h.grad.float(), head.weight.grad.float()

    ftcore()  # warm-up (kernels compile on first use)
    liger()
    (l1, c1, gh1, gw1), t1 = _timed(ftcore, device)
    (l2, c2, gh2, gw2), t2 = _timed(liger, device)

    def rel(a: Any, b: Any) -> float:
        return float((a - b).norm() / b.norm().clamp_min(1e-12))

    figures = {"loss_ftcore": l1, "loss_liger": l2, "loss_rel": abs(l1 - l2) / abs(l1),
               "grad_hidden_rel": rel(gh2, gh1), "grad_weight_rel": rel(gw2, gw1),
               "correct_ftcore": c1, "correct_liger": c2, "seconds_ftcore": t1, "seconds_liger": t2}
    ok = (figures["loss_rel"] < 1e-2 and figures["grad_hidden_rel"] < 3e-2 and figures["grad_weight_rel"] < 3e-2
          and abs(c1 - c2) <= max(2, 0.005 * tokens))
    detail = (f"loss {l1:.4f} vs {l2:.4f}, grad rel {figures['grad_hidden_rel']:.1e}/"
              f"{figures['grad_weight_rel']:.1e}, correct {c1} vs {c2}, {t1 * 1e3:.1f} ms vs {t2 * 1e3:.1f} ms")
    return {"ok": ok, "detail": detail, **figures}


def _small_qwen2(device: str) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(vocab_size=32_000, hidden_size=512, intermediate_size=1408, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, pad_token_id=0)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa").to(device)
    torch.manual_seed(1)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(model, lora)


def check_model(device: str) -> dict[str, Any]:
    import torch

    from ftcore.training.liger import apply_liger
    from ftcore.training.loss import causal_lm_loss, unwrap_model

    torch.manual_seed(2)
    ids = torch.randint(1, 32_000, (4, 256), device=device)
    labels = ids.clone()
    labels[:, :64] = -100
    batch = {"input_ids": ids, "position_ids": torch.arange(256, device=device).repeat(4, 1), "labels": labels}
    out = {}
    for name in ("ftcore", "liger"):  # liger last: its patches also change the architecture's module
        model = _small_qwen2(device)
        patched = apply_liger(unwrap_model(model)) if name == "liger" else None
        loss = causal_lm_loss(model, batch, head_impl=name)
        loss.backward()
        grads = torch.cat([p.grad.float().flatten() for _, p in sorted(model.named_parameters()) if p.grad is not None])
        out[name] = (float(loss), grads, patched)
    (l1, g1, _), (l2, g2, patched) = out["ftcore"], out["liger"]
    cosine = float(torch.nn.functional.cosine_similarity(g1, g2, dim=0))
    ok = patched == "qwen2" and abs(l1 - l2) <= 0.02 * abs(l1) and cosine >= 0.99
    return {"ok": ok, "detail": f"patched {patched}; loss {l1:.4f} vs {l2:.4f}; LoRA grad cosine {cosine:.4f}",
            "loss_ftcore": l1, "loss_liger": l2, "grad_cosine": cosine}


def check_train() -> dict[str, Any]:
    from ftcore.config import config_from_dict
    from ftcore.training import train

    rows = [{"query": f"question {i}? " * (1 + i % 4), "response": f"answer {i}. " * (1 + i % 3)} for i in range(32)]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        cfg = config_from_dict({
            "model": {"name": "ftcore-tiny-qwen2", "dtype": "bf16"}, "template": {"max_length": 64},
            "data": {"datasets": [{"path": str(Path(tmp) / "rows.jsonl")}], "test_ratio": 0},
            "tuner": {"method": "lora"},
            "train": {"max_steps": 4, "batch_size": 4, "grad_accum": 1, "logging_steps": 1, "report_to": [],
                      "dataloader_num_workers": 0, "liger": True},
            "output": {"dir": str(Path(tmp) / "out")}}, base_dir=tmp)
        result = train(cfg)
        m = result.metrics
    ok = math.isfinite(float(m.get("train_loss", float("nan")))) and m.get("tokens_per_second", 0) > 0
    return {"ok": ok, "detail": f"train_loss {m.get('train_loss')}, {m.get('tokens_per_second')} tok/s, "
                                f"mfu {m.get('mfu')}", "metrics": {k: m.get(k) for k in
                                                                    ("train_loss", "tokens_per_second", "mfu")}}


def run(report: Report | None = None, *, device: str = "cuda", vocab: int = 151_936, hidden: int = 1024,
        tokens: int = 4096) -> dict[str, dict[str, Any]]:
    """Run the checks (see the module docstring); ``report(name, ok, detail)`` is called for each."""
    report = report or _print_report
    results: dict[str, dict[str, Any]] = {}
    why = None
    try:
        import liger_kernel  # noqa: F401
        import torch

        if not torch.cuda.is_available():
            why = "no CUDA GPU"
    except ImportError as exc:
        why = f"not installed: {exc.name}"
    checks: dict[str, Callable[[], dict[str, Any]]] = {
        "liger-head": lambda: check_head(device, vocab, hidden, tokens),
        "liger-model": lambda: check_model(device),
        "liger-train": check_train,
    }
    for name, check in checks.items():
        if why is not None:
            results[name] = {"ok": False, "detail": why}
        else:
            try:
                results[name] = check()
            except Exception as exc:  # noqa: BLE001 - a failed check is a result, not a crash of the smoke run
                results[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        report(name, bool(results[name]["ok"]), str(results[name]["detail"]))
    return results


if __name__ == "__main__":
    outcome = run()
    print("RESULT " + json.dumps(outcome, default=str))
    sys.exit(0 if all(r["ok"] for r in outcome.values()) else 1)

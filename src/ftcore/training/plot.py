"""loss.png: training loss (raw and smoothed) and eval loss against the step, from metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    records: list[dict] = []
    p = Path(path)
    if not p.is_file():
        return records
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def _smooth(values: list[float], weight: float = 0.9) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None else last * weight + (1 - weight) * v
        out.append(last)
    return out


def plot_loss(metrics_path: str | Path, out_path: str | Path) -> Path | None:
    """Draw train and eval loss to ``out_path``; None (and no file) when there is nothing to draw."""
    records = read_metrics(metrics_path)
    train = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float))]
    evals = [(r["step"], r["eval_loss"]) for r in records if isinstance(r.get("eval_loss"), (int, float))]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if train:
        steps, losses = zip(*train, strict=True)
        ax.plot(steps, losses, color="tab:blue", alpha=0.35, linewidth=1, label="train loss")
        if len(losses) > 2:
            ax.plot(steps, _smooth(list(losses)), color="tab:blue", linewidth=1.8, label="train loss (smoothed)")
    if evals:
        steps, losses = zip(*evals, strict=True)
        ax.plot(steps, losses, color="tab:orange", marker="o", linewidth=1.8, label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out)
    plt.close(fig)
    return out

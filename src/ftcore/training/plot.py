"""The run's plots, from metrics.jsonl: every logged scalar against the step.

* ``loss.png``: training loss (raw and smoothed) and eval loss;
* ``lr.png``: the learning rate;
* ``acc.png``: token accuracy (train and eval), where logged;
* ``reward.png``: every ``*reward*`` scalar (preference / RL stages), where logged;
* ``eval.png``: every eval metric, one panel each;
* ``train.png``: every other training scalar (grad_norm, tokens_per_second …), one panel each.

The step and epoch are axes, not series; the Trainer's one-off summary (train_runtime, train_loss, total_flos …, its
last record) is in result.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["plot_loss", "plot_metrics", "read_metrics", "scalar_series"]

#: keys that are axes or one-off values, not series
_NOT_SERIES = {"step", "epoch", "total_flos", "train_runtime", "train_samples_per_second", "train_steps_per_second",
               "train_loss"}


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


def scalar_series(records: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """Every numeric key of the records (but the step, the epoch and the run's summary) as ``(step, value)`` pairs,
    in the order the keys first appear."""
    out: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        step = record.get("step")
        if not isinstance(step, int):
            continue
        for key, value in record.items():
            if key in _NOT_SERIES or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                out.setdefault(key, []).append((step, float(value)))
    return out


def _smooth(values: list[float], weight: float = 0.9) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None else last * weight + (1 - weight) * v
        out.append(last)
    return out


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_path: str | Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_loss(metrics_path: str | Path, out_path: str | Path) -> Path | None:
    """Draw train and eval loss to ``out_path``; None (and no file) when there is nothing to draw."""
    records = read_metrics(metrics_path)
    train = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float))]
    evals = [(r["step"], r["eval_loss"]) for r in records if isinstance(r.get("eval_loss"), (int, float))]
    if not train and not evals:
        return None
    plt = _pyplot()
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
    return _save(fig, out_path)


def _plot_together(series: dict[str, list[tuple[int, float]]], keys: list[str], ylabel: str,
                   out_path: Path) -> Path:
    """``keys`` on one pair of axes (they share a unit: lr, accuracy, reward)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key in keys:
        steps, values = zip(*series[key], strict=True)
        ax.plot(steps, values, marker="o" if len(values) < 20 else None, linewidth=1.6, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out_path)


def _plot_panels(series: dict[str, list[tuple[int, float]]], keys: list[str], out_path: Path) -> Path:
    """One panel per key (they do not share a unit)."""
    plt = _pyplot()
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        steps, values = zip(*series[key], strict=True)
        ax.plot(steps, values, marker="o" if len(values) < 20 else None, linewidth=1.4)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    return _save(fig, out_path)


def plot_metrics(metrics_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Draw every logged scalar of ``metrics_path`` into ``out_dir`` (the module docstring lists the files); returns
    the files written by name (``{"loss": .../loss.png, ...}``), leaving out the plots with nothing to draw."""
    series = scalar_series(read_metrics(metrics_path))
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    loss = plot_loss(metrics_path, out_dir / "loss.png")
    if loss is not None:
        written["loss"] = loss
    lr = [k for k in series if k == "learning_rate"]
    acc = [k for k in series if k in ("acc", "eval_acc")]
    reward = [k for k in series if "reward" in k]
    evals = [k for k in series if k.startswith("eval_")]
    shown = {"loss", *lr, *acc, *reward, *evals}
    rest = [k for k in series if k not in shown]
    if lr:
        written["lr"] = _plot_together(series, lr, "learning rate", out_dir / "lr.png")
    if acc:
        written["acc"] = _plot_together(series, acc, "token accuracy", out_dir / "acc.png")
    if reward:
        written["reward"] = _plot_together(series, reward, "reward", out_dir / "reward.png")
    if evals:
        written["eval"] = _plot_panels(series, evals, out_dir / "eval.png")
    if rest:
        written["train"] = _plot_panels(series, rest, out_dir / "train.png")
    return written

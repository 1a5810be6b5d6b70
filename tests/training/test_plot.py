"""The run's plots: every logged scalar of metrics.jsonl is drawn (loss.png, lr.png, acc.png, reward.png,
eval.png, train.png), plots with nothing to draw are not written."""

from __future__ import annotations

import json
from pathlib import Path

from ftcore.training.plot import plot_metrics, read_metrics, scalar_series

PNG = b"\x89PNG\r\n\x1a\n"


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _records(reward: bool) -> list[dict]:
    out: list[dict] = []
    for step in range(1, 7):
        row = {"step": step, "loss": 2.0 / step, "grad_norm": 1.5 - step / 10, "learning_rate": 1e-4 * (1 - step / 7),
               "epoch": step / 6, "acc": 0.1 * step, "tokens_per_second": 100.0 + step}
        if reward:
            row.update({"rewards/chosen": 0.2 * step, "rewards/margins": 0.05 * step})
        out.append(row)
        if step % 3 == 0:
            out.append({"step": step, "eval_loss": 1.8 / step, "eval_acc": 0.12 * step, "eval_rouge-l": 10.0 * step,
                        "eval_runtime": 0.5, "epoch": step / 6})
    out.append({"step": 6, "train_runtime": 3.2, "train_loss": 0.9, "total_flos": 1234.0, "epoch": 1.0,
                "train_samples_per_second": 5.0, "train_steps_per_second": 1.0})
    return out


def test_every_logged_scalar_is_drawn(tmp_path: Path) -> None:
    metrics = _write(tmp_path / "metrics.jsonl", _records(reward=True))
    written = plot_metrics(metrics, tmp_path)
    assert set(written) == {"loss", "lr", "acc", "reward", "eval", "train"}
    for name, path in written.items():
        assert path == tmp_path / f"{name}.png" and path.read_bytes().startswith(PNG)
    series = scalar_series(read_metrics(metrics))
    # the one-off summary and the axes are not series; every other scalar is
    assert set(series) == {"loss", "grad_norm", "learning_rate", "acc", "tokens_per_second", "rewards/chosen",
                           "rewards/margins", "eval_loss", "eval_acc", "eval_rouge-l", "eval_runtime"}
    assert series["eval_rouge-l"] == [(3, 30.0), (6, 60.0)]


def test_plots_with_nothing_to_draw_are_left_out(tmp_path: Path) -> None:
    written = plot_metrics(_write(tmp_path / "metrics.jsonl", _records(reward=False)), tmp_path)
    assert set(written) == {"loss", "lr", "acc", "eval", "train"} and not (tmp_path / "reward.png").exists()
    only_loss = tmp_path / "only"
    only_loss.mkdir()
    written = plot_metrics(_write(only_loss / "metrics.jsonl", [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]),
                           only_loss)
    assert set(written) == {"loss"} and sorted(p.name for p in only_loss.glob("*.png")) == ["loss.png"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert plot_metrics(empty / "metrics.jsonl", empty) == {}

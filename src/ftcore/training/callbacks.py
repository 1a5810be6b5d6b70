"""Trainer callbacks: the progress bar (loss, lr, tokens/s, MFU, ETA), metrics.jsonl, and the always-saved final step."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def _clean(logs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in logs.items():
        if isinstance(v, float):
            v = round(v, 8) if math.isfinite(v) else str(v)
        out[k] = v
    return out


class FinalStepCallback(TrainerCallback):
    """Evaluate and save on the last step, whatever eval_steps / save_steps say (ms-swift's behaviour)."""

    def __init__(self, has_eval: bool):
        self.has_eval = has_eval

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.global_step >= state.max_steps:
            control.should_save = True
            if self.has_eval:
                control.should_evaluate = True
        return control


class MetricsCallback(TrainerCallback):
    """Appends every log record (``step``, ``epoch``, loss, lr, eval metrics …) to ``metrics.jsonl`` (rank 0).
    ``tokens_per_second`` and ``mfu`` are in the training records already (``FtcoreTrainer.log``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, **_clean(logs)}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


class ProgressBarCallback(TrainerCallback):
    """One tqdm bar for the run: steps, ETA, and the latest loss, learning rate and tokens/s.

    Replaces transformers' ProgressCallback (which prints raw dicts); eval results are printed as one line.
    """

    def __init__(self, trainer: Any = None):
        self.trainer = trainer
        self.bar: Any = None
        self.current = 0
        self.postfix: dict[str, str] = {}

    def _throughput(self) -> dict[str, float]:
        t = self.trainer
        if t is None or not t.train_start_time:
            return {}
        return dict(t.throughput())

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, desc="train", dynamic_ncols=True, unit="step")
            self.current = state.global_step
            if self.current:
                self.bar.update(self.current)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is None:
            return
        self.bar.update(state.global_step - self.current)
        self.current = state.global_step
        figures = self._throughput()
        if "tokens_per_second" in figures:
            self.postfix["tok/s"] = f"{figures['tokens_per_second']:.0f}"
        if "mfu" in figures:
            self.postfix["mfu"] = f"{100 * figures['mfu']:.1f}%"
        if figures:
            self.bar.set_postfix(self.postfix, refresh=False)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.bar is None or not logs:
            return
        if "loss" in logs:
            self.postfix["loss"] = f"{logs['loss']:.4f}"
        if "learning_rate" in logs:
            self.postfix["lr"] = f"{logs['learning_rate']:.2e}"
        self.bar.set_postfix(self.postfix, refresh=True)
        if "eval_loss" in logs:
            extra = " ".join(f"{k[5:]}={v:.4g}" for k, v in logs.items()
                             if k.startswith("eval_") and isinstance(v, (int, float)) and "per_second" not in k
                             and k != "eval_runtime")
            self.bar.write(f"step {state.global_step}: eval {extra}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

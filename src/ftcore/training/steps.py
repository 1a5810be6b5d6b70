"""Helpers of the recipe's steps (ftcore.training.recipe): progress lines, the resume point, the run folder shared
between processes, the whole run's loss after a resume, ms-swift's longest-first order, and the callbacks added
after training (generation evaluation, hub pushes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ftcore.config import RunConfig
from ftcore.errors import FtcoreError
from ftcore.outputs import latest_run, read_state, resolve_checkpoint
from ftcore.training.distributed import is_main_process

__all__ = ["add_post_callbacks", "broadcast_run_dir", "check_resumable", "generation_evaluator", "longest_first",
           "resume_path", "say", "whole_run_train_loss"]


def say(text: str) -> None:
    """A progress line on stderr, from the main process only."""
    if is_main_process():
        print(text, file=sys.stderr, flush=True)


#: ms-swift keeps at most this many of the longest samples with ``test_oom_error``
OOM_TEST_ROWS = 20000


def longest_first(dataset: Any, limit: int = OOM_TEST_ROWS, source: str = "run.toml") -> Any:
    """``dataset`` reordered longest sample first (ties keep their order), at most ``limit`` rows — ms-swift's
    ``test_oom_error``: the first steps meet the longest batches, so an out-of-memory error shows at once."""
    if not hasattr(dataset, "select") or not hasattr(dataset, "column_names") or \
            "input_ids" not in (dataset.column_names or []):
        raise FtcoreError(f"{source}: train.test_oom_error: needs a tokenized training set (not data.lazy or "
                          "data.streaming)")
    lengths = [len(ids) for ids in dataset["input_ids"]]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])[:limit]
    return dataset.select(order)


def broadcast_run_dir(run_dir: str | None) -> str:
    """Rank 0 decides the versioned folder; the other ranks receive it."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return run_dir or ""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [run_dir]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])
    return run_dir or ""


def whole_run_train_loss(log_history: list[dict[str, Any]], resumed_part: float, resume: str,
                         global_step: int) -> float | None:
    """The mean training loss of a resumed run over all its steps: the logged losses up to the resume point
    (each weighted by the steps it covers) combined with the Trainer's mean over the resumed part."""
    from ftcore.outputs import CHECKPOINT_RE

    m = CHECKPOINT_RE.match(Path(resume).name)
    start = int(m.group(1)) if m else 0
    if start <= 0 or global_step <= start:
        return None
    total, covered, prev = 0.0, 0, 0
    for record in log_history:
        step = int(record.get("step", 0))
        if "loss" not in record or step > start:
            continue
        total += float(record["loss"]) * (step - prev)
        covered, prev = step, step
    if covered == 0:
        return None
    before = total / covered
    return (before * start + float(resumed_part) * (global_step - start)) / global_step


def resume_path(cfg: RunConfig, model_name: str) -> str | None:
    """The checkpoint ``train.resume_from_checkpoint`` names (``latest``: the newest run's last one; ``auto``: the
    same when there is one, else None — a restart under torchrun elastic or a SLURM requeue), or None."""
    value = cfg.train.resume_from_checkpoint
    if not value:
        return None
    if value in ("latest", "auto"):
        root = Path(cfg.resolve_path(cfg.output.dir))
        base = root / model_name if cfg.output.add_suffix else root
        try:
            run = latest_run(base)
        except FtcoreError:
            if value == "auto":
                say(f"resume: auto: no earlier checkpoint in {base}; starting afresh")
                return None
            raise FtcoreError(f"{cfg.source}: train.resume_from_checkpoint: no earlier run in {base}") from None
        return str(run / str(read_state(run)["last"]))
    path = resolve_checkpoint(cfg.resolve_path(value))
    if not Path(path, "trainer_state.json").is_file():
        raise FtcoreError(f"{cfg.source}: train.resume_from_checkpoint: {value} is not a training checkpoint")
    return path


def check_resumable(cfg: RunConfig, path: str) -> None:
    """A checkpoint saved with only_save_model holds no optimizer / scheduler / RNG state."""
    folder = Path(path)
    has_ds_state = any(p.is_dir() and p.name.startswith("global_step") for p in folder.iterdir())
    has_state = (folder / "optimizer.pt").is_file() or (folder / "scheduler.pt").is_file() or has_ds_state
    if has_state:
        return
    if cfg.train.deepspeed:
        raise FtcoreError(
            f"{cfg.source}: train.resume_from_checkpoint: {path} holds no DeepSpeed state (it was saved with "
            "train.only_save_model = true, the default for DeepSpeed); train with only_save_model = false to resume")
    say(f"resume: {path} holds weights only (only_save_model): the optimizer and scheduler start afresh")


def generation_evaluator(cfg: RunConfig, template: Any, rows: Any) -> Any:
    """eval.predict_with_generate: ROUGE / BLEU on answers generated for the validation rows."""
    if not cfg.eval.predict_with_generate or rows is None or len(rows) == 0:
        return None
    from ftcore.inference.evaluate import GenerationEvaluator

    return GenerationEvaluator(template, rows, cfg.generation, batch_size=cfg.train.eval_batch_size)


def add_post_callbacks(trainer: Any, cfg: RunConfig, template: Any, model_name: str, token: str | None) -> None:
    """eval.overwrite_generation_config (generation_config.json in each checkpoint) and hub.push."""
    if not is_main_process():
        return
    if cfg.eval.overwrite_generation_config:
        from ftcore.inference.evaluate import GenerationConfigCallback

        trainer.add_callback(GenerationConfigCallback(cfg.generation, template))
    if cfg.hub.push:
        from ftcore.training.hub import (
            PushCallback,
            Pusher,
            default_model_id,
            make_uploader,
            model_card,
            resolve_token,
        )

        uploader = make_uploader(cfg.hub, model_name, cfg.tuner.method, token=token, base_dir=cfg.base_dir)
        model_id = cfg.hub.model_id or default_model_id(model_name, cfg.tuner.method)
        secret = resolve_token(cfg.hub.hub, token)
        if cfg.hub.hub != "local" and not secret:
            say(f"warning: hub.push: no token for {cfg.hub.hub} (hub.token, or the environment); pushes may fail")
        pusher = Pusher(cfg.hub.strategy, uploader, token=secret, card=model_card(cfg, str(model_id)), say=say)
        trainer.add_callback(PushCallback(pusher))

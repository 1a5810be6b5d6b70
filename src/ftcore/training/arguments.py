"""The ``transformers.TrainingArguments`` of a run, from its resolved config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftcore.training.distributed import rank, world_size
from ftcore.training.environment import cpu_only, deepspeed_on_cpu

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig
    from ftcore.training.resolved import ResolvedRun

__all__ = ["best_metric", "deepspeed_config", "training_arguments"]


def best_metric(cfg: RunConfig) -> str:
    """The metric choosing the best checkpoint: ``eval.metric``, else rouge-l with predict_with_generate (higher
    is better), else the loss (ms-swift's metric_for_best_model)."""
    if cfg.eval.metric:
        return cfg.eval.metric.removeprefix("eval_")
    return "rouge-l" if cfg.eval.predict_with_generate else "loss"


def deepspeed_config(cfg: RunConfig) -> Any:
    """The ``deepspeed`` TrainingArguments value of ``train.deepspeed``: a shipped preset's JSON file
    (``ftcore/training/ds_configs/<preset>.json``) or the user's file; ``"auto"`` values are filled by transformers."""
    from ftcore.training.distributed import check_deepspeed_installed, deepspeed_config_path

    check_deepspeed_installed()
    return deepspeed_config_path(str(cfg.train.deepspeed), cfg.base_dir, cfg.source)


def sampling_strategy(cfg: RunConfig) -> str:
    if cfg.train.test_oom_error:
        return "sequential"  # the training set is sorted longest-first: keep that order
    return "group_by_length" if cfg.data.group_by_length else "random"


def training_arguments(run: ResolvedRun, run_dir: str | Path, *, has_eval: bool,
                       extra: dict[str, Any] | None = None, model: Any = None) -> Any:
    """``TrainingArguments`` for ``run`` writing into ``run_dir``; ``extra``: keys the tuning method adds (GaLore's
    optimizer), which win over the run's; ``model``: the model to train (``train.fsdp`` wraps its decoder layers)."""
    from transformers import TrainingArguments

    from ftcore.training.trackers import trainer_integrations

    cfg = run.config
    t = cfg.train
    save_steps = t.save_steps or t.eval_steps
    limit = t.save_total_limit if t.save_total_limit is not None and t.save_total_limit > 0 else None
    # TensorBoard's and Aim's callbacks are added by ftcore.training.trackers; the rest are the Trainer's own
    report_to = trainer_integrations(list(t.report_to))
    kwargs: dict[str, Any] = dict(
        output_dir=str(run_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or (1 if cfg.eval.predict_with_generate else t.batch_size),
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=run.lr,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup_ratio if t.warmup_ratio < 1 else 0.9999,
        optim=t.optim,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        save_total_limit=limit,
        save_only_model=run.only_save_model,
        metric_for_best_model=best_metric(cfg) if has_eval else None,
        greater_is_better=best_metric(cfg) not in ("loss", "eval_loss") if has_eval else None,
        load_best_model_at_end=False,
        seed=t.seed + rank(),
        data_seed=cfg.data.seed,
        dataloader_num_workers=t.dataloader_num_workers,
        bf16=run.dtype == "bf16",
        fp16=run.dtype == "fp16",
        report_to=report_to or "none",
        run_name=Path(run_dir).name,  # the run folder's name (v<N>-<date>-<time>) in every tracker
        remove_unused_columns=False,
        disable_tqdm=False,
        prediction_loss_only=True,
        train_sampling_strategy=sampling_strategy(cfg),
        ddp_backend=t.ddp_backend,
        log_level="warning",
    )
    # with FSDP, activation checkpointing goes through FSDP (train.fsdp: sharding.fsdp_arguments)
    kwargs.update(_checkpointing_arguments(TrainingArguments, t.gradient_checkpointing and not t.fsdp))
    if "project" in {f.name for f in dataclasses.fields(TrainingArguments)}:
        kwargs["project"] = "ftcore"  # trackio's project (wandb / mlflow / swanlab: their environment variables)
    from ftcore.training.compile import compile_arguments

    kwargs.update(compile_arguments(cfg))
    if t.neftune_alpha:
        kwargs["neftune_noise_alpha"] = t.neftune_alpha
    kwargs.update(extra or {})
    if cpu_only() and not t.deepspeed:
        kwargs["use_cpu"] = True  # DDP over gloo on a machine without GPUs (DeepSpeed: DS_ACCELERATOR=cpu)
    if world_size() > 1:
        # with gradient checkpointing every parameter is used once per step (no search, no buffer sync)
        kwargs["ddp_find_unused_parameters"] = not t.gradient_checkpointing
        kwargs["ddp_broadcast_buffers"] = not t.gradient_checkpointing
    if t.fsdp or t.context_parallel > 1:
        from ftcore.training.sharding import sharding_arguments

        kwargs.update(sharding_arguments(cfg, model))
        from ftcore.training.sharding import fsdp_on_cpu

        if fsdp_on_cpu(cfg):
            kwargs["accelerator_config"] = {"use_configured_state": True}  # the FSDP state set up over gloo
    if t.deepspeed:
        kwargs["deepspeed"] = deepspeed_config(cfg)
        if deepspeed_on_cpu(cfg):
            kwargs["accelerator_config"] = {"use_configured_state": True}
    return TrainingArguments(**kwargs)


def _checkpointing_arguments(arguments_class: Any, enabled: bool) -> dict[str, Any]:
    """Activation (gradient) checkpointing, non-reentrant, under the names this transformers has: transformers 5
    renamed ``gradient_checkpointing*`` to ``activation_checkpointing*`` (the old names warn)."""
    names = {f.name for f in dataclasses.fields(arguments_class)}
    prefix = "activation" if "activation_checkpointing" in names else "gradient"
    return {f"{prefix}_checkpointing": enabled,
            f"{prefix}_checkpointing_kwargs": {"use_reentrant": False} if enabled else None}

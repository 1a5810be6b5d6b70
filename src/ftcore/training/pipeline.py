"""``train(config)``: run.toml → model, tuner, template, data → transformers.Trainer → a versioned output folder."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftcore.config import RunConfig, config_from_dict, config_to_toml, load_config
from ftcore.errors import FtcoreError
from ftcore.training.output import (
    RUN_FILE_IN_CHECKPOINT,
    latest_run,
    new_run_dir,
    read_state,
    resolve_checkpoint,
)

LR_AUTO = {"lora": 1e-4, "qlora": 1e-4, "full": 2e-5}


@dataclass
class TrainResult:
    """What a run produced. ``best_checkpoint`` is the lowest eval loss (the last one without evaluation)."""

    output_dir: str
    best_checkpoint: str | None
    last_checkpoint: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: the trained model as training left it (the last checkpoint's weights), for use in the same process
    model: Any = field(default=None, repr=False, compare=False)


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def _is_main() -> bool:
    return _rank() == 0


def _say(text: str) -> None:
    if _is_main():
        print(text, file=sys.stderr, flush=True)


def as_config(config: RunConfig | str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
              ) -> RunConfig:
    """A RunConfig from a RunConfig, a run.toml path, or a dict (``overrides``: ``section.key=value``)."""
    if isinstance(config, RunConfig):
        if not overrides:
            return config
        from ftcore.config import apply_overrides

        data = apply_overrides(config.model_dump(mode="json", exclude_none=True), list(overrides))
        rebuilt = config_from_dict(data, source=config.source, base_dir=config.base_dir)
        if rebuilt.hub.token is None and config.hub.token:  # hub.token is never dumped: carry it over
            rebuilt.hub.token = config.hub.token
        return rebuilt
    if isinstance(config, dict):
        from ftcore.config import apply_overrides

        return config_from_dict(apply_overrides(dict(config), list(overrides)), source="<dict>",
                                base_dir=os.getcwd())
    return load_config(config, list(overrides))


# ------------------------------------------------------------------------------------------------ pieces


def resolved_lr(cfg: RunConfig) -> float:
    return LR_AUTO[cfg.tuner.method] if cfg.train.lr == "auto" else float(cfg.train.lr)


def _resolved_run_dict(cfg: RunConfig, *, lr: float, targets: list[str] | None, template_name: str | None
                       ) -> dict[str, Any]:
    """The config as it ran: paths absolute (so a checkpoint's copy works from anywhere), auto values resolved."""
    data = cfg.model_dump(mode="json", exclude_none=True)
    if cfg.model.path:
        data["model"]["path"] = str(Path(cfg.resolve_path(cfg.model.path)).resolve())
    if cfg.model.cache_dir:
        data["model"]["cache_dir"] = str(Path(cfg.resolve_path(cfg.model.cache_dir)).resolve())
    data["plugins"] = [str(Path(cfg.resolve_path(p)).resolve()) for p in cfg.plugins]
    for section in ("datasets", "validation"):
        for i, entry in enumerate(data["data"].get(section, [])):
            if isinstance(entry, dict) and entry.get("path") and not str(entry["path"]).startswith("builtin:"):
                entry["path"] = str(Path(cfg.resolve_path(entry["path"])).resolve())
            data["data"][section][i] = entry
    data["train"]["lr"] = lr
    if targets is not None and cfg.tuner.method in ("lora", "qlora"):
        data["tuner"]["targets"] = list(targets)
    if template_name and not cfg.template.name:
        data["template"]["name"] = template_name
    return data


def _broadcast_run_dir(run_dir: str | None) -> str:
    """rank 0 decides the versioned folder; the other ranks receive it."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return run_dir or ""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [run_dir]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])
    return run_dir or ""


def _training_arguments(cfg: RunConfig, run_dir: Path, *, lr: float, dtype: str, has_eval: bool) -> Any:
    from transformers import TrainingArguments

    t = cfg.train
    save_steps = t.save_steps or t.eval_steps
    only_save_model = t.only_save_model
    if only_save_model is None:
        only_save_model = cfg.tuner.method == "full" or bool(t.deepspeed)
    limit = t.save_total_limit if t.save_total_limit is not None and t.save_total_limit > 0 else None
    report_to = [r for r in t.report_to if r != "tensorboard"]  # the TensorBoard callback is added by us
    kwargs: dict[str, Any] = dict(
        output_dir=str(run_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or (1 if cfg.eval.predict_with_generate else t.batch_size),
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=lr,
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
        save_only_model=only_save_model,
        metric_for_best_model=best_metric(cfg) if has_eval else None,
        greater_is_better=best_metric(cfg) not in ("loss", "eval_loss") if has_eval else None,
        load_best_model_at_end=False,
        seed=t.seed + _rank(),
        data_seed=cfg.data.seed,
        dataloader_num_workers=t.dataloader_num_workers,
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        bf16=dtype == "bf16",
        fp16=dtype == "fp16",
        report_to=report_to or "none",
        remove_unused_columns=False,
        disable_tqdm=False,
        prediction_loss_only=True,
        train_sampling_strategy=_sampling_strategy(cfg),
        ddp_backend=t.ddp_backend,
        log_level="warning",
    )
    if _cpu_only() and not t.deepspeed:
        kwargs["use_cpu"] = True  # DDP over gloo on a machine without GPUs (DeepSpeed: DS_ACCELERATOR=cpu)
    if world_size() > 1:
        # the seed: with gradient checkpointing every parameter is used once per step (no search, no buffer sync)
        kwargs["ddp_find_unused_parameters"] = not t.gradient_checkpointing
        kwargs["ddp_broadcast_buffers"] = not t.gradient_checkpointing
    if t.deepspeed:
        kwargs["deepspeed"] = deepspeed_config(cfg)
        if _deepspeed_on_cpu(cfg):
            kwargs["accelerator_config"] = {"use_configured_state": True}
    return TrainingArguments(**kwargs)


def _deepspeed_on_cpu(cfg: RunConfig) -> bool:
    """A multi-process DeepSpeed run on a machine without GPUs (DS_ACCELERATOR=cpu, gloo)."""
    return bool(cfg.train.deepspeed) and _cpu_only() and world_size() > 1


def best_metric(cfg: RunConfig) -> str:
    """The metric choosing the best checkpoint: ``eval.metric``, else rouge-l with predict_with_generate (higher
    is better), else the loss (the seed's metric_for_best_model)."""
    if cfg.eval.metric:
        return cfg.eval.metric.removeprefix("eval_")
    return "rouge-l" if cfg.eval.predict_with_generate else "loss"


def _cpu_only() -> bool:
    """No accelerator: accelerate then needs ``cpu=True`` to run several processes (gloo), DeepSpeed excepted."""
    from ftcore.models import _accelerator

    return _accelerator() == "cpu"


def _sampling_strategy(cfg: RunConfig) -> str:
    if cfg.train.test_oom_error:
        return "sequential"  # the training set is sorted longest-first: keep that order
    return "group_by_length" if cfg.data.group_by_length else "random"


def deepspeed_config(cfg: RunConfig) -> Any:
    """The ``deepspeed`` TrainingArguments value of ``train.deepspeed``: a shipped preset's JSON file
    (``ftcore/training/ds_configs/<preset>.json``) or the user's file; ``"auto"`` values are filled by transformers."""
    from ftcore.training.distributed import check_deepspeed_installed, deepspeed_config_path

    check_deepspeed_installed()
    return deepspeed_config_path(str(cfg.train.deepspeed), cfg.base_dir, cfg.source)


#: the seed keeps at most this many of the longest samples with ``test_oom_error``
OOM_TEST_ROWS = 20000


def longest_first(dataset: Any, limit: int = OOM_TEST_ROWS, source: str = "run.toml") -> Any:
    """``dataset`` reordered longest sample first (ties keep their order), at most ``limit`` rows — the seed's
    ``test_oom_error``: the first steps meet the longest batches, so an out-of-memory error shows at once."""
    if not hasattr(dataset, "select") or not hasattr(dataset, "column_names") or \
            "input_ids" not in (dataset.column_names or []):
        raise FtcoreError(f"{source}: train.test_oom_error: needs a tokenized training set (not data.lazy or "
                          "data.streaming)")
    lengths = [len(ids) for ids in dataset["input_ids"]]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])[:limit]
    return dataset.select(order)


def _resume_path(cfg: RunConfig, model_name: str) -> str | None:
    value = cfg.train.resume_from_checkpoint
    if not value:
        return None
    if value == "latest":
        root = Path(cfg.resolve_path(cfg.output.dir))
        base = root / model_name if cfg.output.add_suffix else root
        try:
            run = latest_run(base)
        except FtcoreError:
            raise FtcoreError(f"{cfg.source}: train.resume_from_checkpoint: no earlier run in {base}") from None
        return str(run / str(read_state(run)["last"]))
    path = resolve_checkpoint(cfg.resolve_path(value))
    if not Path(path, "trainer_state.json").is_file():
        raise FtcoreError(f"{cfg.source}: train.resume_from_checkpoint: {value} is not a training checkpoint")
    return path


def _check_resumable(cfg: RunConfig, path: str) -> None:
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
    _say(f"resume: {path} holds weights only (only_save_model): the optimizer and scheduler start afresh")


def _allow_split_model_under_ddp(model: Any) -> None:
    """MP+DDP: a process's model spans its group of GPUs; accelerate then must wrap it in DDP without device_ids."""
    device_map = getattr(model, "hf_device_map", None) or {}
    gpus = {d for d in device_map.values() if d not in ("cpu", "disk")}
    if world_size() > 1 and len(gpus) > 1:
        os.environ["ACCELERATE_BYPASS_DEVICE_MAP"] = "true"


# ------------------------------------------------------------------------------------------------ train


def train(config: RunConfig | str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
          ) -> TrainResult:
    """Fine-tune as ``config`` says (a RunConfig, a run.toml path or a dict); returns the run's folders and metrics.

    >>> result = train("examples/quickstart.toml")  # doctest: +SKIP
    >>> result.best_checkpoint                       # doctest: +SKIP
    'output/ftcore-tiny-qwen2/v0-20261128-101500/checkpoint-40'
    """
    cfg = as_config(config, overrides)
    hub_token = cfg.hub.token or (config.hub.token if isinstance(config, RunConfig) else None)
    from ftcore.validation import check_references

    check_references(cfg)

    from accelerate import PartialState
    from transformers import set_seed

    if cfg.train.deepspeed and _cpu_only():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # before deepspeed is first imported
    # joins the process group under torchrun, so the output folder can be broadcast
    if _deepspeed_on_cpu(cfg):
        # accelerate finds no backend for DeepSpeed without CUDA (world size 1, DeepSpeed's batch check fails):
        # configure the DeepSpeed state over gloo here; TrainingArguments reuses it (use_configured_state)
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
        PartialState(backend=cfg.train.ddp_backend or "gloo")
    else:
        PartialState(cpu=_cpu_only(), **({"backend": cfg.train.ddp_backend} if cfg.train.ddp_backend else {}))
    set_seed(cfg.train.seed + _rank())  # the seed: seed + rank, before the model and the adapters are created

    from ftcore.models import load, resolve_dtype, resolve_model
    from ftcore.plugins import get_plugin_manager
    from ftcore.tuners import describe_parameters, tuner_options

    spec, model_dir = resolve_model(cfg)
    dtype = resolve_dtype(cfg.model.dtype, spec)
    # fp16 mixed precision needs fp32 master weights for parameters that train (the seed: full + fp16 → fp32)
    load_dtype = "fp32" if dtype == "fp16" and cfg.tuner.method == "full" else dtype
    _say(f"model {spec.name}: {model_dir} ({load_dtype})")
    model, tokenizer = load(cfg, spec, model_dir, dtype=load_dtype)
    _allow_split_model_under_ddp(model)

    from ftcore.data.collate import make_collator
    from ftcore.data.pipeline import prepare_data
    from ftcore.templates import get_template

    template = get_template(
        cfg.template.name,
        tokenizer,
        model_spec=spec,
        system=cfg.template.system,
        max_length=cfg.template.max_length if (cfg.template.max_length or 0) > 0 else None,
        truncation=cfg.template.truncation,
        loss_on=cfg.template.loss_on,
        train_on_prompt=cfg.template.train_on_prompt,
    )
    data = prepare_data(cfg, template, tokenizer)
    if data.train is None or len(data.train) == 0:
        raise FtcoreError(f"{cfg.source}: data.datasets: no usable training rows")
    if cfg.train.test_oom_error:
        data.train = longest_first(data.train, source=cfg.source)
    has_eval = data.validation is not None and len(data.validation) > 0
    _say(f"data: {len(data.train)} training rows, {len(data.validation) if has_eval else 0} validation rows")  # type: ignore[arg-type]
    report = getattr(data, "report", None)
    for line in (report.lines() if report is not None and hasattr(report, "lines") else []):
        _say(f"data: {line}")

    options = tuner_options(cfg, spec, model)
    tuned = get_plugin_manager().hook.configure_tuner(model=model, options=options)
    if tuned is None:
        raise FtcoreError(f"{cfg.source}: tuner.method: no plugin handles {cfg.tuner.method!r}")
    model = tuned
    _say(f"tuner {cfg.tuner.method}" + (f" on {', '.join(options.targets)}" if options.targets else "")
         + f": {describe_parameters(model)}")

    from ftcore.data.packing import adapt_collator, pack_for_training, packing_length, resolve_packing

    cfg.data.packing = resolve_packing(cfg, model)  # "auto" → true/false, recorded in run.toml
    generation_rows = data.validation if has_eval else None  # unpacked: generation needs one sample per row
    if cfg.data.packing:
        data.train = pack_for_training(cfg, data.train)
        if has_eval:
            data.validation = pack_for_training(cfg, data.validation)
        _say(f"data: packed into {len(data.train)} rows of up to {packing_length(cfg)} tokens")

    lr = resolved_lr(cfg)
    resume = _resume_path(cfg, spec.name)
    if resume:
        _check_resumable(cfg, resume)
    run_dir_text = None
    if _is_main():
        run_dir_text = str(new_run_dir(cfg.resolve_path(cfg.output.dir), spec.name, add_suffix=cfg.output.add_suffix))
    run_dir = Path(_broadcast_run_dir(run_dir_text))
    template_name = getattr(getattr(template, "spec", None), "name", None)
    resolved = _resolved_run_dict(cfg, lr=lr, targets=options.targets, template_name=template_name)
    run_toml = config_to_toml(config_from_dict(resolved, source=cfg.source, base_dir=cfg.base_dir))
    if _is_main():
        from ftcore.training.manifest import build_manifest, write_manifest

        (run_dir / "run.toml").write_text(run_toml, encoding="utf-8")
        fingerprints = getattr(data, "fingerprints", {}) or {}
        write_manifest(run_dir, build_manifest(
            cfg=cfg, model_spec=spec, model_dir=model_dir, fingerprints=fingerprints,
            extra={"dtype": dtype, "tuner": {"method": cfg.tuner.method, "targets": options.targets},
                   "rows": {"train": len(data.train), "validation": len(data.validation) if has_eval else 0},  # type: ignore[arg-type]
                   "resumed_from": resume},
        ))
    _say(f"output: {run_dir}")

    from transformers.integrations import TensorBoardCallback
    from transformers.trainer_callback import ProgressCallback

    from ftcore.training.callbacks import FinalStepCallback, MetricsCallback, ProgressBarCallback
    from ftcore.training.trainer import FtcoreTrainer

    args = _training_arguments(cfg, run_dir, lr=lr, dtype=dtype, has_eval=has_eval)
    trainer = FtcoreTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.validation if has_eval else None,
        data_collator=adapt_collator(make_collator(cfg, tokenizer, template=template, model=model), model),
        processing_class=tokenizer,
        run_toml=run_toml,
        model_dir=model_dir,
        loss_only_head=cfg.train.loss_only_head,
        generation_evaluator=_generation_evaluator(cfg, template, generation_rows),
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(ProgressBarCallback(trainer))
    trainer.add_callback(FinalStepCallback(has_eval))
    trainer.add_callback(MetricsCallback(run_dir / "metrics.jsonl", trainer))
    if "tensorboard" in cfg.train.report_to and _is_main():
        try:
            tb = TensorBoardCallback()
        except RuntimeError:  # tensorboard not installed
            tb = None
        if tb is not None:
            tb.logging_dir = cfg.resolve_path(cfg.output.logging_dir) if cfg.output.logging_dir else str(
                run_dir / "logs")
            trainer.add_callback(tb)

    _add_post_callbacks(trainer, cfg, template, spec.name, hub_token)
    output = trainer.train(resume_from_checkpoint=resume)

    metrics: dict[str, Any] = dict(output.metrics)
    state = read_state(run_dir)
    best = str(run_dir / state["best"]) if state["best"] else None
    last = str(run_dir / state["last"]) if state["last"] else None
    if trainer.state.best_metric is not None:
        metrics[f"best_eval_{best_metric(cfg)}"] = trainer.state.best_metric
    evals = [r["eval_loss"] for r in trainer.state.log_history if "eval_loss" in r]
    if evals:
        metrics["eval_loss"] = evals[-1]
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    if losses:
        metrics["first_loss"], metrics["last_loss"] = losses[0], losses[-1]
    if _is_main():
        from ftcore.training.plot import plot_loss

        plot_loss(run_dir / "metrics.jsonl", run_dir / "loss.png")
        (run_dir / "result.json").write_text(
            json.dumps({"best_checkpoint": best, "last_checkpoint": last, "metrics": metrics}, indent=2,
                       default=str) + "\n", encoding="utf-8")
        _say(f"best checkpoint: {best}\nlast checkpoint: {last}\nloss plot: {run_dir / 'loss.png'}")
    return TrainResult(output_dir=str(run_dir), best_checkpoint=best, last_checkpoint=last, metrics=metrics,
                       model=trainer.model)


def _generation_evaluator(cfg: RunConfig, template: Any, rows: Any) -> Any:
    """eval.predict_with_generate: ROUGE / BLEU on answers generated for the validation rows."""
    if not cfg.eval.predict_with_generate or rows is None or len(rows) == 0:
        return None
    from ftcore.inference.evaluate import GenerationEvaluator

    return GenerationEvaluator(template, rows, cfg.generation)


def _add_post_callbacks(trainer: Any, cfg: RunConfig, template: Any, model_name: str, token: str | None) -> None:
    """eval.overwrite_generation_config (generation_config.json in each checkpoint) and hub.push."""
    if not _is_main():
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
            _say(f"warning: hub.push: no token for {cfg.hub.hub} (hub.token, or the environment); pushes may fail")
        pusher = Pusher(cfg.hub.strategy, uploader, token=secret, card=model_card(cfg, str(model_id)), say=_say)
        trainer.add_callback(PushCallback(pusher))


def sft_main(config: RunConfig | str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
             ) -> TrainResult:
    """The seed's name for :func:`train` (which returned the best checkpoint; here ``.best_checkpoint``)."""
    return train(config, overrides)


__all__ = ["RUN_FILE_IN_CHECKPOINT", "TrainResult", "sft_main", "train"]

"""Training as a recipe: a short list of named steps, each testable alone, reused by every stage.

    recipe = SFTRecipe(config)            # the user's RunConfig is read, never changed
    recipe.setup_distributed()            # environment, process group, seed
    recipe.load_model()                   # spec → local folder → ModelLoader; dtype decided
    recipe.build_template()               # the template the data is encoded with (and inference uses)
    recipe.prepare_data()                 # load, normalize, encode, split; packing decided and applied
    recipe.apply_tuner()                  # the registered tuner wraps the model; targets decided
    recipe.plan_output()                  # the versioned run folder, run.toml, manifest.json; resume point
    recipe.build_trainer()                # TrainingArguments, collator, callbacks
    result = recipe.train()               # the loop, then result.json and the plots (loss.png, lr.png …)

``recipe.run()`` runs them in this order (:attr:`Recipe.steps`). Every value decided on the way lives in
``recipe.run_record`` (a frozen :class:`~ftcore.training.resolved.ResolvedRun`). A stage (sft today; dpo, kto,
grpo … later) is a subclass that swaps what differs — usually :meth:`Recipe.prepare_data` (its data schema) and
:meth:`Recipe.build_trainer` — and reuses the rest.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

from ftcore.config import RunConfig
from ftcore.errors import FtcoreError
from ftcore.outputs import RunLock, new_run_dir, read_state, write_text_atomic
from ftcore.training.distributed import is_main_process, rank
from ftcore.training.resolved import ResolvedRun, resolve_run
from ftcore.training.results import RunInterrupted, TrainResult
from ftcore.training.steps import (
    add_post_callbacks,
    broadcast_run_dir,
    check_resumable,
    generation_evaluator,
    longest_first,
    resume_path,
    say,
    whole_run_train_loss,
)

__all__ = ["Recipe", "RunInterrupted", "SFTRecipe", "TrainResult", "get_recipe", "longest_first", "recipe_names"]


class Recipe:
    """The steps of a training stage. Subclasses set :attr:`stage` and override the steps that differ."""

    #: the stage's name (``train.stage`` in later releases; ``sft`` today)
    stage: ClassVar[str] = "sft"
    #: the steps :meth:`run` calls, in order
    steps: ClassVar[tuple[str, ...]] = ("setup_distributed", "load_model", "build_template", "prepare_data",
                                        "apply_tuner", "plan_output", "build_trainer", "train")

    def __init__(self, config: RunConfig, *, hub_token: str | None = None) -> None:
        self.user_config = config
        #: every value decided so far; steps replace it with a new record as they decide more
        self.run_record: ResolvedRun = resolve_run(config, stage=self.stage)
        self.hub_token = hub_token if hub_token is not None else config.hub.token
        self.spec: Any = None
        self.model: Any = None
        self.tokenizer: Any = None
        self.template: Any = None
        self.data: Any = None
        self.has_eval = False
        self.generation_rows: Any = None
        from ftcore.training.profile import StartupProfile

        #: FTCORE_PROFILE=1: the time of each step until the first optimizer step
        self.profile = StartupProfile()
        self.tuner_options: Any = None
        self.run_dir: Path | None = None
        self.resume: str | None = None
        self.run_toml: str | None = None
        self.trainer: Any = None
        self.result: TrainResult | None = None
        #: the run folder's lock (rank 0), taken in :meth:`plan_output`, released when :meth:`run` ends
        self.lock: RunLock | None = None

    @property
    def cfg(self) -> RunConfig:
        """The config with every value decided so far written in (what the steps read)."""
        return self.run_record.config

    def decide(self, **values: Any) -> None:
        """Record values decided by a step (a new :class:`ResolvedRun`)."""
        self.run_record = self.run_record.replace(**values)

    def run(self) -> TrainResult:
        """Every step in order; returns the result. The run folder's lock is released however it ends."""
        try:
            if self.profile.enabled:
                self.profile.imports()
            for name in self.steps:
                if name == "train":  # timed by the profile's callback: the Trainer's set-up and the first step
                    self.profile.train_start = time.perf_counter()
                    getattr(self, name)()
                    continue
                with self.profile.part(name):
                    getattr(self, name)()
        finally:
            self.release_lock()
        assert self.result is not None, "the last step must set recipe.result"
        return self.result

    def release_lock(self) -> None:
        """Release the run folder's lock (a no-op when not held)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # -------------------------------------------------------------------------------------------- steps

    def setup_distributed(self) -> None:
        """The process environment, the process group (under torchrun) and ms-swift (seed + rank, before the model
        and the adapters are created, as ms-swift does)."""
        from accelerate import PartialState
        from transformers import set_seed

        from ftcore.training.environment import configure_environment, cpu_only, deepspeed_on_cpu

        cfg = self.cfg
        configure_environment(cfg)
        from ftcore.training.sharding import fsdp_on_cpu, use_fsdp_state_on_cpu

        if deepspeed_on_cpu(cfg):
            # configure the DeepSpeed state over gloo here; TrainingArguments reuses it (use_configured_state)
            PartialState(backend=cfg.train.ddp_backend or "gloo")
        elif fsdp_on_cpu(cfg):
            use_fsdp_state_on_cpu()  # FSDP over gloo (tests); on GPUs accelerate's own state is FSDP's
        else:
            PartialState(cpu=cpu_only(), **({"backend": cfg.train.ddp_backend} if cfg.train.ddp_backend else {}))
        # FSDP shards each rank's own copy as it is (no broadcast as with DDP): every rank creates the adapters
        # with the same seed; the Trainer seeds seed + rank for training
        set_seed(cfg.train.seed + (0 if cfg.train.fsdp else rank()))

    def load_model(self) -> None:
        """Resolve the model (catalog name, local folder or hub id) and load it; decides the dtype."""
        from ftcore.models import generic_note, load, resolve_dtype, resolve_model

        cfg = self.cfg
        spec, model_dir = resolve_model(cfg)
        dtype = resolve_dtype(cfg.model.dtype, spec)
        # fp16 mixed precision needs fp32 master weights for parameters that train (ms-swift: full + fp16 → fp32)
        from ftcore.tuners import get_tuner_spec

        # (and for the methods that train base weights in part: freeze, llama-pro, galore — tagged "full")
        trains_base = cfg.tuner.method == "full" or "full" in get_tuner_spec(cfg.tuner.method).tags
        load_dtype = "fp32" if dtype == "fp16" and trains_base else dtype
        if cfg.train.fp32_master and dtype in ("bf16", "fp16"):
            load_dtype = "fp32"  # fp32 weights, half-precision compute under autocast
        self.decide(model_name=spec.name, model_dir=str(model_dir), dtype=dtype, load_dtype=load_dtype)
        say(f"model {spec.name}: {model_dir} ({load_dtype})")
        note = generic_note(spec)
        if note:
            say(note)
        self.spec = spec
        self.model, self.tokenizer = load(self.cfg, spec, model_dir, dtype=load_dtype)

    def build_template(self) -> None:
        """The template bound to the tokenizer; decides the template name."""
        from ftcore.templates import get_template

        t = self.cfg.template
        self.template = get_template(
            t.name, self.tokenizer, model_spec=self.spec, system=t.system,
            max_length=t.max_length if (t.max_length or 0) > 0 else None,
            truncation=t.truncation, loss_on=t.loss_on, train_on_prompt=t.train_on_prompt,
            **({"parse_special_in_content": True} if t.parse_special_in_content else {}))
        self.decide(template_name=self.template.spec.name)

    def prepare_data(self) -> None:
        """Load, normalize and encode the datasets with the template; decide packing and pack."""
        from ftcore.data.packing import pack_for_training, packing_length, resolve_packing
        from ftcore.data.pipeline import prepare_data

        cfg = self.cfg
        data = prepare_data(cfg, self.template, self.tokenizer)
        if data.train is None or len(data.train) == 0:
            raise FtcoreError(f"{cfg.source}: data.datasets: no usable training rows")
        if cfg.train.test_oom_error:
            data.train = longest_first(data.train, source=cfg.source)
        n_val = len(data.validation) if data.validation is not None else 0
        self.has_eval = n_val > 0
        say(f"data: {len(data.train)} training rows, {n_val} validation rows")
        from ftcore.data.report import outside_paths

        data.report.notes.extend(outside_paths([*cfg.data.datasets, *cfg.data.validation], cfg.base_dir))
        for source in data.report.sources:  # a source with bad rows was already logged as a warning
            if not source.bad:
                say(f"data: {source.line()}")
        for note in data.report.notes:
            say(f"data: {note}")
        self.decide(packing=resolve_packing(cfg, self.model))  # "auto" → true/false, recorded in run.toml
        self.generation_rows = data.validation if self.has_eval else None  # generation: one sample per row
        if self.run_record.packing:
            with self.profile.part("packing"):
                data.train = pack_for_training(self.cfg, data.train)
                if self.has_eval:
                    data.validation = pack_for_training(self.cfg, data.validation)
            say(f"data: packed into {len(data.train)} rows of up to {packing_length(self.cfg)} tokens")
        self.data = data

    def apply_tuner(self) -> None:
        """Wrap the model with the registered tuner of ``tuner.method``; decides the target modules."""
        from ftcore.plugins import get_plugin_manager
        from ftcore.tuners import describe_parameters, training_hook, tuner_options

        cfg = self.cfg
        options = tuner_options(cfg, self.spec, self.model)
        from ftcore.models.compat import quiet_peft_deprecations

        calibrate = training_hook(options, "use_calibration_data")
        if calibrate is not None:  # EVA / CorDA initialise from the first training batches
            calibrate(self._calibration_batches)
        with quiet_peft_deprecations():
            tuned = get_plugin_manager().hook.configure_tuner(model=self.model, options=options)
        if tuned is None:
            raise FtcoreError(f"{cfg.source}: tuner.method: no plugin handles {cfg.tuner.method!r}")
        self.model = tuned
        self.tuner_options = options
        self.decide(targets=tuple(options.targets))
        say(f"tuner {cfg.tuner.method}" + (f" on {', '.join(options.targets)}" if options.targets else "")
            + f": {describe_parameters(self.model)}")

    def plan_output(self) -> None:
        """The resume point, the versioned run folder (rank 0 decides, the others receive it), run.toml and
        manifest.json."""
        cfg = self.cfg
        self.resume = resume_path(cfg, str(self.run_record.model_name))
        if self.resume:
            check_resumable(cfg, self.resume)
        run_dir_text = None
        if is_main_process():
            run_dir_text = str(new_run_dir(cfg.resolve_path(cfg.output.dir), str(self.run_record.model_name),
                                           add_suffix=cfg.output.add_suffix))
        self.run_dir = Path(broadcast_run_dir(run_dir_text))
        self.run_toml = self.run_record.to_toml()
        if is_main_process():
            self.lock = RunLock(self.run_dir).acquire()  # before anything is written: one run per folder
            from ftcore.training.manifest import build_manifest, write_manifest

            write_text_atomic(self.run_dir / "run.toml", self.run_toml)
            rows = {"train": len(self.data.train), "validation": len(self.data.validation) if self.has_eval else 0}
            write_manifest(self.run_dir, build_manifest(
                cfg=cfg, model_spec=self.spec, model_dir=str(self.run_record.model_dir),
                fingerprints=self.data.fingerprints or {},
                extra={"dtype": self.run_record.dtype, "stage": self.stage,
                       "tuner": {"method": cfg.tuner.method, "targets": list(self.run_record.targets or ())},
                       "rows": rows, "resumed_from": self.resume},
            ))
        say(f"output: {self.run_dir}")

    def build_trainer(self) -> None:
        """The Trainer: arguments, collator, callbacks (progress, metrics.jsonl, TensorBoard, generation eval, hub
        pushes)."""
        from transformers.trainer_callback import ProgressCallback

        from ftcore.training.arguments import training_arguments
        from ftcore.training.callbacks import FinalStepCallback, MetricsCallback, ProgressBarCallback
        from ftcore.training.environment import configure_tracker_environment
        from ftcore.training.sharding import context_parallel_collator
        from ftcore.training.trackers import add_trackers
        from ftcore.tuners import training_hook

        cfg, run_dir = self.cfg, self._run_dir()
        data = self.data
        configure_tracker_environment(cfg, run_dir)  # the trackers' offline stores, before their callbacks start
        hook_args = training_hook(self.tuner_options, "training_arguments")
        if cfg.train.liger:
            from ftcore.training.liger import apply_liger
            from ftcore.training.loss import unwrap_model

            kind = apply_liger(unwrap_model(self.model))
            say(f"liger: {'kernels for ' + kind if kind else 'no kernels for this architecture'}; "
                "the loss-only head uses its fused linear cross-entropy")
        trainer_class, collator = self.trainer_parts()
        trainer = trainer_class(
            model=self.model,
            args=training_arguments(self.run_record, run_dir, has_eval=self.has_eval,
                                    extra=hook_args() if hook_args else None, model=self.model),
            tuner_options=self.tuner_options,
            train_dataset=data.train,
            eval_dataset=data.validation if self.has_eval else None,
            data_collator=context_parallel_collator(cfg, collator, self.tokenizer),
            processing_class=self.tokenizer,
            run_toml=self.run_toml,
            model_dir=self.run_record.model_dir,
            loss_only_head=cfg.train.loss_only_head,
            peak_flops=cfg.train.peak_flops,
            head_impl="liger" if cfg.train.liger else "ftcore",
            generation_evaluator=generation_evaluator(cfg, self.template, self.generation_rows),
        )
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(ProgressBarCallback(trainer))
        trainer.add_callback(FinalStepCallback(self.has_eval))
        trainer.add_callback(MetricsCallback(run_dir / "metrics.jsonl"))
        if self.profile.enabled:
            trainer.add_callback(self.profile.callback())
        hook_callbacks = training_hook(self.tuner_options, "callbacks")
        for callback in hook_callbacks() if hook_callbacks else []:  # the tuning method's (AdaLoRA's allocation)
            trainer.add_callback(callback)
        add_trackers(trainer, cfg, run_dir, self.run_record.run_dict(), main_process=is_main_process())
        add_post_callbacks(trainer, cfg, self.template, str(self.run_record.model_name), self.hub_token)
        self.trainer = trainer

    def trainer_parts(self) -> tuple[Any, Any]:
        """The Trainer class and the collator of :meth:`build_trainer` (a stage swaps both: its loss, its batches;
        the Trainer gets the same arguments and callbacks)."""
        from ftcore.training.trainer import FtcoreTrainer

        return FtcoreTrainer, self._collator()

    def train(self) -> None:
        """The training loop (resuming where :meth:`plan_output` said), then result.json and the plots (loss.png,
        lr.png, eval.png … of every logged scalar)."""
        from ftcore.training.arguments import best_metric
        from ftcore.training.trackers import restore_command_line

        cfg, run_dir, trainer = self.cfg, self._run_dir(), self.trainer
        try:
            output = trainer.train(resume_from_checkpoint=self.resume)
        finally:
            restore_command_line(trainer)  # sys.argv, redacted while trackers ran, even when training failed
        metrics: dict[str, Any] = dict(output.metrics)
        state = read_state(run_dir)
        best = str(run_dir / state["best"]) if state["best"] else None
        last = str(run_dir / state["last"]) if state["last"] else None
        if getattr(trainer, "stop_signal", None) is not None:
            import signal

            signum = int(trainer.stop_signal)
            raise RunInterrupted(
                f"stopped by {signal.Signals(signum).name} after step {trainer.state.global_step}: checkpoint "
                f"{last} written; resume with: ftcore train {cfg.source} --set "
                f"train.resume_from_checkpoint={last}", signum, last)
        if self.resume and "train_loss" in metrics:
            whole = whole_run_train_loss(trainer.state.log_history, metrics["train_loss"], self.resume,
                                         trainer.state.global_step)
            if whole is not None:
                metrics["train_loss_since_resume"] = metrics["train_loss"]
                metrics["train_loss"] = whole
        if trainer.state.best_metric is not None:
            metrics[f"best_eval_{best_metric(cfg)}"] = trainer.state.best_metric
        evals = [r["eval_loss"] for r in trainer.state.log_history if "eval_loss" in r]
        if evals:
            metrics["eval_loss"] = evals[-1]
        metrics.update(trainer.throughput())  # tokens_per_second and mfu of the whole run
        losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
        if losses:
            metrics["first_loss"], metrics["last_loss"] = losses[0], losses[-1]
        if is_main_process():
            from ftcore.training.plot import plot_metrics

            plots = plot_metrics(run_dir / "metrics.jsonl", run_dir)  # loss.png, lr.png, eval.png …
            write_text_atomic(run_dir / "result.json", json.dumps(
                {"best_checkpoint": best, "last_checkpoint": last, "metrics": metrics}, indent=2, default=str) + "\n")
            # best / last checkpoint: in the result (``ftcore train`` prints them once, on stdout)
            if plots:
                say(f"plots: {', '.join(p.name for p in plots.values())} in {run_dir}")
        self.result = TrainResult(output_dir=str(run_dir), best_checkpoint=best, last_checkpoint=last,
                                  metrics=metrics, model=trainer.model)

    def _collator(self) -> Any:
        """The training collator; with ``train.compile`` it pads batches to a few bucket lengths."""
        from ftcore.data.collate import make_collator
        from ftcore.data.packing import adapt_collator

        cfg = self.cfg
        collator = adapt_collator(make_collator(cfg, self.tokenizer, template=self.template, model=self.model),
                                  self.model)
        if cfg.train.compile:
            from ftcore.training.compile import compile_buckets, configure_dynamo, set_buckets

            buckets = compile_buckets(cfg)
            configure_dynamo(len(buckets))
            set_buckets(collator, buckets)
        return collator

    def _calibration_batches(self, n_batches: int = 8) -> list[Any]:
        """The first ``n_batches`` training batches, collated as training collates them (EVA / CorDA init)."""
        from torch.utils.data import DataLoader

        from ftcore.data.collate import make_collator
        from ftcore.data.packing import adapt_collator

        data = self.data.train
        rows = data.select(range(min(len(data), n_batches * self.cfg.train.batch_size))) \
            if hasattr(data, "select") else data
        collator = adapt_collator(make_collator(self.cfg, self.tokenizer, template=self.template, model=self.model),
                                  self.model)
        return list(DataLoader(rows, batch_size=self.cfg.train.batch_size, collate_fn=collator))

    def _run_dir(self) -> Path:
        if self.run_dir is None:
            raise RuntimeError("plan_output has not run")
        return self.run_dir


class SFTRecipe(Recipe):
    """Supervised fine-tuning: messages → template → input_ids + labels (loss on the answers) → the Trainer."""

    stage = "sft"


#: recipes given directly (tests, notebooks); a name here wins over the catalog's stage of that name
RECIPES: dict[str, type[Recipe]] = {}


def recipe_names() -> list[str]:
    """Every stage a run may name: the catalog's (``register_stages``) and :data:`RECIPES`."""
    from ftcore.registry import get_catalog

    return sorted({*get_catalog().stages.names(), *RECIPES})


def get_recipe(stage: str = "sft") -> type[Recipe]:
    """The recipe class of ``stage``: :data:`RECIPES`, else the registered stage's ``recipe`` (imported now).

    An unknown stage, or one whose recipe cannot be imported, is a one-line :class:`FtcoreError`."""
    if stage in RECIPES:
        return RECIPES[stage]
    if stage == "sft":
        return SFTRecipe
    from ftcore.registry import get_catalog

    table = get_catalog().stages
    if stage not in table and stage not in table.conflicts:
        raise FtcoreError(f"unknown training stage {stage!r}{table.unknown(stage)[len(f'unknown stage {stage!r}'):]}")
    spec = table.get(stage)
    try:
        cls = spec.recipe_class()
    except FtcoreError as exc:
        raise FtcoreError(f"training stage {stage!r} ({spec.plugin}) cannot be used: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise FtcoreError(f"training stage {stage!r} ({spec.plugin}): recipe {spec.recipe!r} is not a "
                          "ftcore.training.recipe.Recipe subclass")
    return cls

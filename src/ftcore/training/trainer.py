"""``FtcoreTrainer``: transformers.Trainer with ftcore's loss, token counting and whole-or-nothing checkpoints.

Everything else (DDP, DeepSpeed, accumulation, resume, rotation keeping best and last) is the Trainer's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from ftcore.errors import FtcoreError
from ftcore.outputs import RUN_FILE_IN_CHECKPOINT, TMP_PREFIX, checkpoint_dirs, write_state
from ftcore.training.cpu_memory import keep_freed_memory
from ftcore.training.dropout import fast_dropout
from ftcore.training.lora_cpu import fast_lora
from ftcore.training.packed_attention import packed_attention

#: the signals that stop a run cleanly (first: finish the step, checkpoint, stop; second: stop at once)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class CheckpointWriteError(FtcoreError):
    """A checkpoint could not be written (disk full, file size limit …); the previous one stays the latest."""


class StopOnSignalCallback(TrainerCallback):
    """After a stop signal: save at the end of the current step and end training."""

    def __init__(self, trainer: FtcoreTrainer):
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.trainer.stop_signal is not None:
            control.should_save = True
            control.should_training_stop = True
        return control


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _is_write_failure(exc: BaseException) -> bool:
    """An error from writing files: OSError (ENOSPC, EFBIG …), safetensors' SafetensorError, torch.save's
    "file write failed"."""
    if isinstance(exc, OSError) or type(exc).__name__ == "SafetensorError":
        return True
    text = str(exc)  # torch.save: "file write failed"; the tokenizers library: "File too large (os error 27)"
    return any(k in text for k in ("write failed", "No space left", "File too large", "Disk quota", "os error 27",
                                   "os error 28", "os error 122"))


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _ftcore_loss() -> Any:
    try:
        from ftcore.training.loss import causal_lm_loss
    except ImportError:
        return None
    return causal_lm_loss


def skip_unused_deepspeed_import() -> None:
    """accelerate's ``extract_model_from_parallel`` (the Trainer calls it while it is built) imports DeepSpeed
    whenever it is installed, to test ``isinstance(model, DeepSpeedEngine)``: seconds before the first step of a
    run that does not use it. A model can only be a DeepSpeedEngine once deepspeed is imported, so the test asks
    accelerate's availability check only then (a DeepSpeed run imports it while it prepares)."""
    try:
        from accelerate.utils import other
    except ImportError:  # pragma: no cover - an accelerate without the module
        return
    real = getattr(other, "is_deepspeed_available", None)
    if real is None or getattr(real, "_ftcore_lazy", False):
        return

    def is_deepspeed_available() -> bool:
        return "deepspeed" in sys.modules and bool(real())

    is_deepspeed_available._ftcore_lazy = True  # type: ignore[attr-defined]
    other.is_deepspeed_available = is_deepspeed_available


class FtcoreTrainer(Trainer):
    """A ``transformers.Trainer`` that

    * computes the loss with :func:`ftcore.training.loss.causal_lm_loss` (the LM head only where labels carry loss),
    * counts the tokens it trains on (``tokens_seen``, for tokens/s),
    * writes each checkpoint under ``.tmp-checkpoint-<step>/`` and renames it when complete (with the run's
      ``ftcore_run.toml``), then records best and last in ``checkpoints.json``.
    """

    def __init__(self, *args: Any, run_toml: str | None = None, loss_only_head: bool = True,
                 generation_evaluator: Any = None, model_dir: str | None = None, tuner_options: Any = None,
                 peak_flops: float | None = None, head_impl: str = "ftcore", **kwargs: Any):
        skip_unused_deepspeed_import()
        super().__init__(*args, **kwargs)
        #: the run's TunerOptions: its method may build the optimizer (LoRA+) or finish checkpoints (PiSSA)
        self.tuner_options = tuner_options
        self.run_toml = run_toml
        #: the base model's folder: its processor files (multimodal) go into every checkpoint
        self.model_dir = model_dir
        #: ``eval.predict_with_generate``: called with the model at each evaluation, returns extra metrics
        #: (rouge-1/2/l, bleu-4; ftcore.inference.evaluate.GenerationEvaluator) logged as eval_<name>
        self.generation_evaluator = generation_evaluator
        self.loss_only_head = loss_only_head
        #: the head's cross-entropy: ftcore's chunked function, or "liger" (train.liger, CUDA)
        self.head_impl = head_impl
        self.tokens_seen = 0
        #: model FLOPs done since train() started (ftcore.training.flops), the FLOPs model and the device's peak
        self.flops_seen = 0.0
        self.flops_model: Any = None
        self.peak_flops_override = peak_flops
        self.peak_flops: float | None = None
        self.peak_source = "unknown"
        #: token accuracy counts (label positions only) since the last training log, and of the running evaluation
        self.acc_stats: dict[str, Any] = {}
        self.eval_acc_stats: dict[str, Any] = {}
        self.train_start_time: float | None = None
        self._staging_dir: str | None = None
        #: the signal (SIGTERM / SIGINT) that asked the run to stop, None while none came
        self.stop_signal: int | None = None
        #: ``train.handle_signals``-like switch: install the SIGTERM / SIGINT handlers while training
        self.handle_signals = True
        self.add_callback(StopOnSignalCallback(self))
        self._loss_fn = _ftcore_loss()
        if self._loss_fn is not None:
            # causal_lm_loss honours num_items_in_batch for every model and always shifts labels: have the Trainer
            # count the label tokens of the whole effective batch, so gradient accumulation gives the token mean
            self.model_accepts_loss_kwargs = True
            self._loss_shifts_labels = True

    # ---------------------------------------------------------------------------------------------- loss

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        if model.training:
            from ftcore.training.flops import batch_counts

            tokens, label_tokens, context = batch_counts(inputs)
            self.tokens_seen += tokens
            if self.flops_model is not None:
                self.flops_seen += self.flops_model.step_flops(tokens, label_tokens, context)
        from ftcore.training.sharding import sequence_parallel_active

        if self._loss_fn is None or (model.training and sequence_parallel_active(self)):
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        stats = self.acc_stats if model.training else self.eval_acc_stats
        fsdp = self.is_fsdp_enabled and model.training
        result = self._loss_fn(model, inputs, num_items_in_batch=num_items_in_batch,
                               loss_only_head=self.loss_only_head, return_outputs=return_outputs or fsdp,
                               stats=stats, **({"head_impl": self.head_impl} if self.head_impl != "ftcore" else {}))
        loss, outputs = result if isinstance(result, tuple) else (result, None)
        if fsdp:
            from ftcore.training.sharding import tie_to_model_output

            loss = tie_to_model_output(loss, outputs)
        if (self.args.average_tokens_across_devices and self.model_accepts_loss_kwargs
                and num_items_in_batch is not None and self.accelerator.num_processes > 1):
            # num_items_in_batch counts every device's tokens and DDP averages gradients: undo the average
            loss = loss * self.accelerator.num_processes
        if return_outputs:
            return loss, (outputs if outputs is not None else {})
        return loss

    def _accuracy(self, stats: dict[str, Any]) -> float | None:
        """Token accuracy of ``stats`` over every process (then emptied); None when no label was counted."""
        import torch

        counts = torch.tensor([int(stats.get("correct", 0)), int(stats.get("total", 0))], dtype=torch.long,
                              device=self.args.device)
        stats.clear()
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        correct, total = (int(v) for v in counts.tolist())
        return None if total == 0 else round(correct / total, 8)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Training logs get ``acc`` (token accuracy on label positions since the last log) and
        ``tokens_per_second`` and ``mfu`` (since training began) next to ``loss``, so metrics.jsonl and every tracker see them."""
        if "loss" in logs and self._loss_fn is not None:
            acc = self._accuracy(self.acc_stats)
            if acc is not None:
                logs = {**logs, "acc": acc}
        if "loss" in logs and self.train_start_time:
            logs = {**logs, **self.throughput()}  # tokens_per_second, mfu (when the device's peak is known)
        super().log(logs, *args, **kwargs)

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        self.eval_acc_stats.clear()
        output = super().evaluation_loop(*args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
        acc = self._accuracy(self.eval_acc_stats) if self._loss_fn is not None else None
        if acc is not None:
            if output.metrics is None:
                output = output._replace(metrics={})
            assert output.metrics is not None
            output.metrics[f"{prefix}_acc"] = acc
        if self.generation_evaluator is not None:
            model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
            metrics: dict[str, float] = output.metrics if output.metrics is not None else {}
            if output.metrics is None:
                output = output._replace(metrics=metrics)
            for name, value in self.generation_evaluator(model).items():
                metrics[f"{prefix}_{name}"] = value
        return output

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """data.group_by_length: ftcore's deterministic length-grouped sampler (ftcore.training.sampler)."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length" and dataset is not None and hasattr(dataset, "__len__"):
            from ftcore.training.sampler import LengthGroupedSampler, lengths_of

            try:
                lengths = lengths_of(dataset)
            except (KeyError, TypeError):
                lengths = None
            if lengths is not None:
                seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
                return LengthGroupedSampler(lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                            seed=seed)
        return super()._get_train_sampler(train_dataset)

    def throughput(self) -> dict[str, float]:
        """``tokens_per_second`` (every process) and ``mfu`` (model FLOPs utilisation of this device, when its
        peak is known) since train() started."""
        if not self.train_start_time:
            return {}
        elapsed = max(time.time() - self.train_start_time, 1e-6)
        out = {"tokens_per_second": round(self.tokens_seen * self.args.world_size / elapsed, 2)}
        if self.flops_model is not None and self.peak_flops:
            out["mfu"] = round(self.flops_seen / elapsed / self.peak_flops, 4)
        return out

    def _start_flops(self) -> None:
        from ftcore.models.peak import peak_flops
        from ftcore.training.flops import FlopsModel

        self.flops_seen = 0.0
        self.flops_model = FlopsModel.from_model(self.model, loss_only_head=self.loss_only_head)
        dtype = "bf16" if self.args.bf16 else "fp16" if self.args.fp16 else "fp32"
        self.peak_flops, self.peak_source = peak_flops(dtype, override=self.peak_flops_override)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        self.train_start_time = time.time()
        self.tokens_seen = 0
        self._start_flops()
        self.stop_signal = None
        if self.args.device.type == "cpu":
            keep_freed_memory()
        previous = self._install_signal_handlers()
        try:
            model: Any = self.model
            with packed_attention(model, enabled=self._packed_attention_ok()), \
                    fast_dropout(model, enabled=not self.args.torch_compile), \
                    fast_lora(model, enabled=not self.args.torch_compile):
                return super().train(*args, **kwargs)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _packed_attention_ok(self) -> bool:
        """Packed rows attend one sample at a time on the CPU (ftcore.training.packed_attention), except under
        torch.compile (its span loop breaks graphs) and sequence parallelism (its own attention wrapper)."""
        from ftcore.training.sharding import sequence_parallel_active

        return not self.args.torch_compile and not sequence_parallel_active(self)

    # ------------------------------------------------------------------------------------------ signals

    def _install_signal_handlers(self) -> dict[int, Any]:
        """SIGTERM / SIGINT: the first finishes the step, saves a checkpoint and stops; a second exits at once."""
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for signum in STOP_SIGNALS:
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stop_signal is not None:
            print(f"{name} again: stopping now, without a checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.stop_signal = signum
        if self.args.should_save:
            print(f"{name}: finishing step {self.state.global_step + 1}, then saving a checkpoint and stopping "
                  f"(send it again to stop at once)", file=sys.stderr, flush=True)

    def create_optimizer(self, model: Any = None) -> Any:
        """The tuning method's optimizer when it builds one (LoRA+), else the Trainer's."""
        if self.optimizer is None and self.tuner_options is not None:
            from ftcore.tuners import training_hook

            hook = training_hook(self.tuner_options, "create_optimizer")
            optimizer = hook(self.model, self.args) if hook else None
            if optimizer is not None:
                self.optimizer = optimizer
        return super().create_optimizer(*(() if model is None else (model,)))

    # ---------------------------------------------------------------------------------------- checkpoints

    def _get_output_dir(self, trial: Any) -> str:
        if self._staging_dir is not None:
            return self._staging_dir
        return super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = os.path.join(run_dir, f"{TMP_PREFIX}{name}")
        final = os.path.join(run_dir, name)
        expected = 0
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
            expected = self.expected_checkpoint_bytes(run_dir)
            self._warn_low_space(run_dir, expected)
        self._barrier()
        try:
            self._write_checkpoint(model, trial, run_dir, name, staging, final)
        except Exception as exc:
            if not _is_write_failure(exc):
                raise
            shutil.rmtree(staging, ignore_errors=True)
            raise CheckpointWriteError(self._write_failure_message(exc, run_dir, name, expected)) from exc
        self._barrier()

    def _write_checkpoint(self, model: Any, trial: Any, run_dir: str, name: str, staging: str, final: str) -> None:
        # The Trainer writes <staging>/checkpoint-<step>/ (every rank, for sharded states), we rename it whole.
        self._staging_dir = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        self._barrier()
        if self.args.should_save:
            written = os.path.join(staging, name)
            from ftcore.training.sharding import write_whole_weights

            write_whole_weights(self, written)  # train.fsdp_state_dict = "sharded": the last checkpoint, whole
            self._finish_checkpoint(written)
            if self.run_toml is not None:
                Path(written, RUN_FILE_IN_CHECKPOINT).write_text(self.run_toml, encoding="utf-8")
            from ftcore.models import copy_processor_files

            copy_processor_files(self.model_dir, written)
            best_step = self.state.best_global_step
            best_dir = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{best_step}") if best_step else None
            if best_step == self.state.global_step:
                best_dir = final
            self.state.best_model_checkpoint = best_dir if best_dir and (
                best_dir == final or os.path.isdir(best_dir)) else self.state.best_model_checkpoint
            # the state saved inside the checkpoint points at the staging folder; rewrite it with the real names
            self.state.save_to_json(os.path.join(written, "trainer_state.json"))
            if os.path.isdir(final):  # re-saving the same step (e.g. the final step saved twice)
                shutil.rmtree(final)
            os.replace(written, final)
            shutil.rmtree(staging, ignore_errors=True)
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )
            write_state(run_dir, self.state.best_model_checkpoint or final, final)

    # ------------------------------------------------------------------------------------- disk space

    def expected_checkpoint_bytes(self, run_dir: str) -> int:
        """About how much a checkpoint takes: the size of the run's latest one, else an estimate from the model
        (saved weights + two fp32 optimizer moments of the trainable parameters)."""
        done = checkpoint_dirs(run_dir)
        if done:
            try:
                return _folder_bytes(done[-1])
            except OSError:
                pass
        model: Any = self.model
        if model is None:
            return 0
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if hasattr(model, "peft_config"):
            saved = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        else:
            saved = sum(p.numel() * p.element_size() for p in model.parameters())
        return int(saved + 8 * trainable * (0 if self.args.save_only_model else 1))

    def _warn_low_space(self, run_dir: str, expected: int) -> None:
        try:
            free = shutil.disk_usage(run_dir).free
        except OSError:
            return
        if expected and free < expected:
            print(f"warning: {run_dir}: {human_bytes(free)} free, a checkpoint needs about {human_bytes(expected)}; "
                  "the next save may fail", file=sys.stderr, flush=True)

    def _write_failure_message(self, exc: BaseException, run_dir: str, name: str, expected: int) -> str:
        try:
            free = f", {human_bytes(shutil.disk_usage(run_dir).free)} free there"
        except OSError:
            free = ""
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        done = checkpoint_dirs(run_dir)
        latest = f"the latest checkpoint is still {done[-1]}" if done else "the run has no earlier checkpoint"
        return (f"checkpoint {name} could not be written to {run_dir} ({type(exc).__name__}: {reason}); it needs "
                f"about {human_bytes(expected)}{free}; {latest}; free some space (or raise the file size limit) "
                "and resume with train.resume_from_checkpoint = \"latest\"")

    def _finish_checkpoint(self, folder: str) -> None:
        """The tuning method's last word on a written checkpoint (PiSSA / OLoRA: converted to plain LoRA)."""
        if self.tuner_options is None:
            return
        from ftcore.tuners import training_hook

        hook = training_hook(self.tuner_options, "finish_checkpoint")
        if hook is not None:
            hook(self.accelerator.unwrap_model(self.model, keep_torch_compile=False), folder)

    def _barrier(self) -> None:
        if self.args.world_size > 1:
            self.accelerator.wait_for_everyone()

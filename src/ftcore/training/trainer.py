"""``FtcoreTrainer``: transformers.Trainer with ftcore's loss, token counting and whole-or-nothing checkpoints.

Everything else (DDP, DeepSpeed, accumulation, resume, rotation keeping best and last) is the Trainer's own.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from ftcore.outputs import RUN_FILE_IN_CHECKPOINT, TMP_PREFIX, write_state


def _ftcore_loss() -> Any:
    try:
        from ftcore.training.loss import causal_lm_loss
    except ImportError:
        return None
    return causal_lm_loss


class FtcoreTrainer(Trainer):
    """A ``transformers.Trainer`` that

    * computes the loss with :func:`ftcore.training.loss.causal_lm_loss` (the LM head only where labels carry loss),
    * counts the tokens it trains on (``tokens_seen``, for tokens/s),
    * writes each checkpoint under ``.tmp-checkpoint-<step>/`` and renames it when complete (with the run's
      ``ftcore_run.toml``), then records best and last in ``checkpoints.json``.
    """

    def __init__(self, *args: Any, run_toml: str | None = None, loss_only_head: bool = True,
                 generation_evaluator: Any = None, model_dir: str | None = None, tuner_options: Any = None,
                 **kwargs: Any):
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
        self.tokens_seen = 0
        self.train_start_time: float | None = None
        self._staging_dir: str | None = None
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
            mask = inputs.get("attention_mask")
            ids = inputs.get("input_ids")
            if mask is not None and mask.dim() == 2:
                self.tokens_seen += int(mask.sum())
            elif ids is not None:
                self.tokens_seen += int(ids.numel())
        if self._loss_fn is None:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        result = self._loss_fn(model, inputs, num_items_in_batch=num_items_in_batch,
                               loss_only_head=self.loss_only_head, return_outputs=return_outputs)
        loss, outputs = result if isinstance(result, tuple) else (result, None)
        if (self.args.average_tokens_across_devices and self.model_accepts_loss_kwargs
                and num_items_in_batch is not None and self.accelerator.num_processes > 1):
            # num_items_in_batch counts every device's tokens and DDP averages gradients: undo the average
            loss = loss * self.accelerator.num_processes
        if return_outputs:
            return loss, (outputs if outputs is not None else {})
        return loss

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        output = super().evaluation_loop(*args, **kwargs)
        if self.generation_evaluator is not None:
            prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
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

    def train(self, *args: Any, **kwargs: Any) -> Any:
        self.train_start_time = time.time()
        self.tokens_seen = 0
        return super().train(*args, **kwargs)

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
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        self._barrier()
        # The Trainer writes <staging>/checkpoint-<step>/ (every rank, for sharded states), we rename it whole.
        self._staging_dir = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        self._barrier()
        if self.args.should_save:
            written = os.path.join(staging, name)
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
        self._barrier()

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

"""AdaLoRA through peft (``tuner.method = "adalora"``): LoRA whose ranks are reallocated during training, from
``init_r`` per module down to an average of ``target_r``, between steps ``tinit`` and ``total_step - tfinal``.
The budget schedule needs the run's length: ``total_step`` defaults to ``train.max_steps``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ftcore.specs import TunerOptions
from ftcore.tuners.adapter_options import AdapterOptions, adapter_options
from ftcore.tuners.base import wrap_with_peft

__all__ = ["AdaLoraOptions", "apply_adalora"]


class AdaLoraOptions(AdapterOptions):
    """The ``[tuner]`` keys of ``adalora`` (peft's AdaLoraConfig names)."""

    init_r: int = Field(12, ge=1, description="each module's rank at the start")
    target_r: int = Field(8, ge=1, description="the average rank after reallocation")
    alpha: int = Field(32, ge=1, description="scaling: the update is multiplied by alpha / rank")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the adapter's input")
    tinit: int = Field(0, ge=0, description="steps of warm-up before ranks are pruned")
    tfinal: int = Field(0, ge=0, description="final steps with the ranks fixed")
    deltaT: int = Field(1, ge=1, description="steps between two reallocations")
    orth_reg_weight: float = Field(0.5, ge=0.0, description="weight of the orthogonality regulariser")
    total_step: int | None = Field(None, ge=1, description="the run's optimizer steps (default train.max_steps)")

    def from_run(self, cfg: Any) -> AdaLoraOptions:
        if self.total_step is None and cfg.train.max_steps > 0:
            return self.model_copy(update={"total_step": cfg.train.max_steps})
        return self

    def run_problems(self, cfg: Any) -> list[str]:
        out = []
        if self.total_step is None and cfg.train.max_steps <= 0:
            out.append("tuner.total_step: AdaLoRA's rank budget needs the run's length; set train.max_steps "
                       "or tuner.total_step")
        steps = self.total_step or cfg.train.max_steps
        if steps > 0 and self.tinit + self.tfinal >= steps:
            out.append(f"tuner.tinit: tinit + tfinal ({self.tinit + self.tfinal}) must be below the run's "
                       f"{steps} steps")
        if self.target_r > self.init_r:
            out.append("tuner.target_r: must not exceed tuner.init_r")
        return out

    def callbacks(self) -> list[Any]:
        from transformers import TrainerCallback

        class RankAllocation(TrainerCallback):  # type: ignore[misc]
            """peft's ``update_and_allocate`` after each optimizer step, before the gradients are zeroed."""

            def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                if model is not None:
                    inner = getattr(model, "module", model)
                    inner.base_model.update_and_allocate(state.global_step)

        return [RankAllocation()]


def apply_adalora(model: Any, options: TunerOptions) -> Any:
    from peft import AdaLoraConfig

    opts = adapter_options(options, AdaLoraOptions)
    config = AdaLoraConfig(
        init_r=opts.init_r, target_r=opts.target_r, lora_alpha=opts.alpha, lora_dropout=opts.dropout,
        tinit=opts.tinit, tfinal=opts.tfinal, deltaT=opts.deltaT, orth_reg_weight=opts.orth_reg_weight,
        total_step=opts.total_step or 1000, target_modules=list(options.targets),
        modules_to_save=list(options.modules_to_save) or None, task_type="CAUSAL_LM",
    )
    return wrap_with_peft(model, options, config)

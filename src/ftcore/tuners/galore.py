"""GaLore (``tuner.method = "galore"``): full fine-tuning whose optimizer keeps the target matrices' gradients and
states in a low-rank projection (transformers' ``optim = "galore_adamw"`` …, which needs the ``galore-torch``
package: ``pip install 'ftcore[galore]'``). Checkpoints hold the whole model."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import TrainingHooks, enable_checkpointing, is_quantized

__all__ = ["GaloreOptions", "apply_galore", "galore_installed"]

MISSING = "tuner.method = 'galore' needs the galore-torch package: pip install galore-torch (or 'ftcore[galore]')"


def galore_installed() -> bool:
    return importlib.util.find_spec("galore_torch") is not None


class GaloreOptions(TrainingHooks, BaseModel):
    """The ``[tuner]`` keys of ``galore`` (the ``targets`` key names the matrices GaLore projects)."""

    model_config = ConfigDict(extra="forbid")

    targets: str | list[str] = Field("auto", description="auto, all or a list of module names GaLore projects")
    galore_rank: int = Field(128, ge=1, description="rank of the gradient projection")
    update_proj_gap: int = Field(200, ge=1, description="steps between two recomputations of the projection")
    galore_scale: float = Field(0.25, gt=0.0, description="scale of the projected update")
    proj_type: Literal["std", "reverse_std", "right", "left", "full"] = Field("std", description="projection side")
    optimizer: Literal["adamw", "adamw_8bit", "adafactor"] = Field("adamw", description="GaLore's base optimizer")
    layerwise: bool = Field(False, description="update layer by layer (less memory; no gradient accumulation)")

    _targets: list[str] = PrivateAttr(default_factory=list)

    def run_problems(self, cfg: Any) -> list[str]:
        out = []
        if not galore_installed():
            out.append(MISSING)
        if cfg.train.deepspeed:
            out.append("tuner.method: GaLore brings its own optimizer, which DeepSpeed replaces; remove train.deepspeed")
        if self.layerwise and cfg.train.grad_accum > 1:
            out.append("tuner.layerwise: layer-wise GaLore cannot accumulate gradients; set train.grad_accum = 1")
        return out

    def training_arguments(self) -> dict[str, Any]:
        name = f"galore_{self.optimizer}" + ("_layerwise" if self.layerwise else "")
        args = (f"rank={self.galore_rank}, update_proj_gap={self.update_proj_gap}, scale={self.galore_scale}, "
                f"proj_type={self.proj_type}")
        return {"optim": name, "optim_args": args, "optim_target_modules": list(self._targets)}


def apply_galore(model: Any, options: TunerOptions) -> Any:
    """Every parameter trains (like ``full``); the optimizer arguments carry the GaLore targets."""
    if not galore_installed():
        raise FtcoreError(MISSING)
    if is_quantized(model):
        raise FtcoreError("tuner.method: galore trains the full weights and cannot train a quantized model")
    if not options.targets:
        raise FtcoreError("tuner.targets: no modules for GaLore to project (give a list, or 'all')")
    opts = options.method_options if isinstance(options.method_options, GaloreOptions) else GaloreOptions()
    opts._targets = list(options.targets)
    for p in model.parameters():
        p.requires_grad_(True)
    if options.gradient_checkpointing:
        enable_checkpointing(model, frozen_embeddings=False)
    return model

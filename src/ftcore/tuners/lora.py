"""LoRA through peft (``tuner.method = "lora"``) and its variants as options: DoRA (``use_dora``), rsLoRA
(``use_rslora``), the initialisations peft offers (``init``: gaussian, PiSSA, OLoRA, and EVA / CorDA from the first training batches), LoRA+ (``lora_plus_ratio``,
peft's optimizer helper), ``layers_to_transform`` and per-module ``rank_pattern`` / ``alpha_pattern``. On a quantized
model peft's k-bit preparation runs first (QLoRA takes the same options, except the inits that rewrite the base
weights: PiSSA, OLoRA and CorDA need unquantized weights)."""

from __future__ import annotations

import re
import shutil
import tempfile
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import TrainingHooks, enable_checkpointing, is_quantized

__all__ = ["LoraOptions", "apply_lora", "peft_init"]

#: ``init`` values that rewrite the base weights (saved converted to plain LoRA on the original base)
MUTATING_INITS = ("pissa", "olora", "corda")
#: ``init`` values that need a pass over training data before training (the recipe hands the first batches)
DATA_INITS = ("eva", "corda")
_PISSA_NITER = re.compile(r"^pissa_niter_[1-9][0-9]*$")


class LoraOptions(TrainingHooks, BaseModel):
    """The ``[tuner]`` keys of ``lora`` and ``qlora`` (defaults as in ms-swift's sft.sh)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(8, ge=1, description="the adapter's rank r")
    alpha: int = Field(32, ge=1, description="scaling: the update is multiplied by alpha / rank")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the adapter's input")
    targets: str | list[str] = Field("auto", description="auto, all or a list of module names")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train")
    modules_to_save: list[str] = Field(default_factory=list, description="modules trained in full and saved")
    use_dora: bool = Field(False, description="DoRA: magnitude and direction trained apart (peft use_dora)")
    use_rslora: bool = Field(False, description="rsLoRA: scale by alpha / sqrt(rank) (peft use_rslora)")
    init: str = Field(
        "default", description="default | gaussian | pissa | pissa_niter_N | olora | eva | corda "
        "(peft init_lora_weights)")
    lora_plus_ratio: float | None = Field(
        None, gt=0, description="LoRA+: B's learning rate = lr x ratio (peft create_loraplus_optimizer; 16 typical)")
    layers_to_transform: list[int] | None = Field(None, description="only these layer indices get adapters")
    rank_pattern: dict[str, int] = Field(default_factory=dict, description="module-name pattern -> rank")
    alpha_pattern: dict[str, int] = Field(default_factory=dict, description="module-name pattern -> alpha")

    _initial_dir: str | None = PrivateAttr(None)
    #: ``() -> iterable of batches`` for EVA / CorDA (set by the recipe through :meth:`use_calibration_data`)
    _calibration: Any = PrivateAttr(None)

    @field_validator("init")
    @classmethod
    def _known_init(cls, value: str) -> str:
        known = ("default", "gaussian", "pissa", "olora", "eva", "corda")
        if value not in known and not _PISSA_NITER.match(value):
            raise ValueError(f"must be one of {', '.join(known)} or pissa_niter_N (got {value!r})")
        return value

    def run_problems(self, cfg: Any) -> list[str]:
        out = []
        quantized = cfg.model.quantization.bits or cfg.tuner.method == "qlora"
        if quantized and (self.init in MUTATING_INITS or self.init.startswith("pissa")):
            out.append(f"tuner.init: {self.init!r} rewrites the base weights, which a quantized model cannot do; "
                       "load the model unquantized (model.quantization.bits = 0) or keep init = 'default'")
        if (self.init.startswith(MUTATING_INITS) and self.use_rslora and (self.rank_pattern or self.alpha_pattern)):
            out.append(f"tuner.init: a {self.init!r} checkpoint cannot be saved as plain LoRA with use_rslora and "
                       "rank_pattern / alpha_pattern together (peft's conversion refuses it); drop one of them")
        if self.lora_plus_ratio and cfg.train.deepspeed:
            out.append("tuner.lora_plus_ratio: LoRA+ builds its own optimizer, which DeepSpeed replaces; "
                       "remove train.deepspeed or lora_plus_ratio")
        return out

    def use_calibration_data(self, batches: Any) -> None:
        """EVA / CorDA: ``batches()`` yields the training batches their initialisation reads (called by the recipe
        before the adapter is created)."""
        self._calibration = batches

    def create_optimizer(self, model: Any, args: Any) -> Any:
        if not self.lora_plus_ratio:
            return None
        from peft.optimizers import create_loraplus_optimizer
        from transformers import Trainer

        optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
        return create_loraplus_optimizer(model, optimizer_cls, lr=args.learning_rate,
                                         loraplus_lr_ratio=self.lora_plus_ratio, weight_decay=args.weight_decay,
                                         **{k: v for k, v in kwargs.items() if k != "lr"})

    def finish_checkpoint(self, model: Any, folder: str) -> None:
        """PiSSA / OLoRA / CorDA: rewrite the saved adapter as plain LoRA on the original base (peft's conversion)."""
        if self._initial_dir is None:
            return
        model.save_pretrained(folder, path_initial_model_for_weight_conversion=self._initial_dir)


def peft_init(init: str) -> Any:
    """peft's ``init_lora_weights`` of an ``init`` value (``default`` is peft's default, True)."""
    return True if init == "default" else init


def apply_lora(model: Any, options: TunerOptions) -> Any:
    """Wrap ``model`` in a ``peft.PeftModel`` with LoRA adapters on ``options.targets``."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    opts = options.method_options if isinstance(options.method_options, LoraOptions) else None
    if is_quantized(model):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=options.gradient_checkpointing)
    if options.gradient_checkpointing:
        enable_checkpointing(model, frozen_embeddings=True)
    if not options.targets:
        raise FtcoreError("tuner.targets: no modules to wrap with LoRA (give a list, or 'all')")
    extra: dict[str, Any] = {}
    if opts is not None:
        if opts.init in DATA_INITS and opts._calibration is None:
            raise FtcoreError(f"tuner.init: {opts.init!r} initialises from training batches: pass them with "
                              "LoraOptions.use_calibration_data (a run does it)")
        if is_quantized(model) and opts.init.startswith(MUTATING_INITS):
            raise FtcoreError(f"tuner.init: {opts.init!r} cannot rewrite a quantized model's weights")
        extra = {k: v for k, v in {
            "use_dora": opts.use_dora, "use_rslora": opts.use_rslora,
            "layers_to_transform": opts.layers_to_transform,
            "rank_pattern": dict(opts.rank_pattern), "alpha_pattern": dict(opts.alpha_pattern),
        }.items() if v}
        if opts.init != "default":
            extra["init_lora_weights"] = peft_init(opts.init)
        if opts.init == "eva":
            from peft import EvaConfig

            extra["eva_config"] = EvaConfig()
        if opts.init == "corda":
            from peft.tuners.lora.config import CordaConfig

            extra["corda_config"] = CordaConfig()
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.targets),
        bias=options.bias,  # type: ignore[arg-type]  # checked by TunerConfig
        modules_to_save=list(options.modules_to_save) or None,
        task_type="CAUSAL_LM",
        **extra,
    )
    if opts is not None and opts.init == "corda":
        import torch
        from peft.tuners.lora.corda import preprocess_corda

        def run_model() -> None:
            with torch.no_grad():
                for batch in opts._calibration():  # one row at a time: CorDA's statistics take 2-D inputs
                    rows = len(batch["input_ids"])
                    for i in range(rows):
                        model(**_on({k: v[i:i + 1] if hasattr(v, "shape") and len(v) == rows else v
                                     for k, v in batch.items()}, model))

        preprocess_corda(model, config, run_model=run_model)
    peft_model = get_peft_model(model, config)
    if opts is not None and opts.init == "eva":
        from peft import initialize_lora_eva_weights

        initialize_lora_eva_weights(peft_model, dataloader=[_on(b, model) for b in opts._calibration()],
                                    show_progress_bar=False)
    if opts is not None and opts.init.startswith(MUTATING_INITS):
        # the adapter as initialised, kept for the conversion of each checkpoint to plain LoRA on the original base
        if opts._initial_dir is not None:
            shutil.rmtree(opts._initial_dir, ignore_errors=True)
        opts._initial_dir = tempfile.mkdtemp(prefix="ftcore-lora-init-")
        peft_model.save_pretrained(opts._initial_dir)
    return peft_model


def _on(batch: dict[str, Any], model: Any) -> dict[str, Any]:
    """A collated batch on the model's device (its tensors moved)."""
    device = next(model.parameters()).device
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}

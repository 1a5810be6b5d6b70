"""Helpers every tuning method shares: is the model quantized, gradient checkpointing, parameter counts."""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingHooks", "count_parameters", "decoder_layers", "describe_parameters", "enable_checkpointing",
           "is_quantized", "wrap_with_peft"]


def is_quantized(model: Any) -> bool:
    """Whether ``model`` was loaded quantized (bitsandbytes, GPTQ …)."""
    return bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "hf_quantizer", None) is not None
        or getattr(model, "quantization_method", None)
    )


def enable_checkpointing(model: Any, *, frozen_embeddings: bool) -> None:
    """Turn on gradient checkpointing (non-reentrant) and switch off the generation cache.

    With frozen embeddings (LoRA, most adapters) the checkpointed blocks would see inputs that need no grad and
    drop the adapters' gradients; ``enable_input_require_grads`` makes the embedding output require grad.
    """
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5's name (the old one warns)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if frozen_embeddings and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    if hasattr(model, "config"):
        model.config.use_cache = False


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (shared tensors counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        if hasattr(p, "ds_numel"):  # DeepSpeed ZeRO-3 partitions parameters
            n = p.ds_numel
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def describe_parameters(model: Any) -> str:
    """``trainable params: 1,234 || all params: 5,678 || trainable%: 21.73``."""
    trainable, total = count_parameters(model)
    pct = 100.0 * trainable / total if total else 0.0
    return f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {pct:.4f}"


class TrainingHooks:
    """What a method's options model may add to a run besides wrapping the model; every hook is optional (the
    recipe and the trainer look each one up with ``getattr``), so a plugin's options model needs none of them.

    * ``from_run(cfg)``: the options completed from the run (AdaLoRA's ``total_step`` from ``train.max_steps``)
    * ``run_problems(cfg)``: problems of the run as a whole, each ``key: message`` (checked before loading)
    * ``training_arguments()``: extra ``transformers.TrainingArguments`` keys (GaLore's optimizer)
    * ``create_optimizer(model, args)``: the optimizer, or None for the Trainer's own (LoRA+)
    * ``callbacks()``: Trainer callbacks (AdaLoRA's rank allocation)
    * ``finish_checkpoint(model, folder)``: called after each checkpoint is written (PiSSA's conversion to LoRA)
    * ``use_calibration_data(batches)``: before ``apply``, a ``() -> list of batches`` of the first training
      batches (EVA / CorDA initialisation); only options models that define it get it
    """

    def from_run(self, cfg: Any) -> Any:
        return self

    def run_problems(self, cfg: Any) -> list[str]:
        return []

    def training_arguments(self) -> dict[str, Any]:
        return {}

    def create_optimizer(self, model: Any, args: Any) -> Any:
        return None

    def callbacks(self) -> list[Any]:
        return []

    def finish_checkpoint(self, model: Any, folder: str) -> None:
        return None


def wrap_with_peft(model: Any, options: Any, config: Any) -> Any:
    """``peft.get_peft_model(model, config)`` after k-bit preparation (quantized model) and gradient checkpointing."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    if is_quantized(model):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=options.gradient_checkpointing)
    if options.gradient_checkpointing:
        enable_checkpointing(model, frozen_embeddings=True)
    return get_peft_model(model, config)


def decoder_layers(model: Any) -> tuple[str, Any]:
    """``(name, ModuleList)`` of the model's decoder blocks (the longest ``ModuleList`` of the language part)."""
    import torch

    from ftcore.errors import FtcoreError

    best: tuple[str, Any] | None = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) and "vis" not in name:
            if best is None or len(module) > len(best[1]):
                best = (name, module)
    if best is None:
        raise FtcoreError("tuner.method: the model has no list of decoder layers to choose from")
    return best

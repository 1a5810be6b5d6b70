"""Tuning methods through peft: LoRA (and QLoRA on a quantized model) and full fine-tuning.

    targets = resolve_targets(model, cfg.tuner.targets, spec)   # auto | all | list → module names
    model = apply_tuner(model, TunerOptions(method="lora", targets=targets, ...))

QLoRA is LoRA on a model loaded with ``model.quantization`` (bitsandbytes): ``apply_tuner`` calls peft's
``prepare_model_for_kbit_training`` first whenever the model is quantized.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ftcore.errors import FtcoreError
from ftcore.specs import ModelSpec, TunerOptions

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = ["apply_tuner", "count_parameters", "linear_module_names", "resolve_targets", "tuner_options"]

METHODS = ("lora", "qlora", "full")


def _head_names(model: Any) -> set[str]:
    """Full names of the output head module(s) (``lm_head``; ``output_layer`` for chatglm …)."""
    names: set[str] = set()
    head = None
    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        head = None
    for name, module in model.named_modules():
        if head is not None and module is head:
            names.add(name)
        last = name.rsplit(".", 1)[-1]
        if last in ("lm_head", "output_layer", "embed_out"):
            names.add(name)
    return names


#: module name components of vision towers and their projectors (multimodal models): never LoRA targets of ``all``
VISION_MODULES = frozenset({"visual", "vision_tower", "vision_model", "vision_encoder", "vision",
                            "multi_modal_projector", "mm_projector", "image_encoder", "vpm", "resampler"})


def is_vision_module(name: str) -> bool:
    """Whether a module (full name) belongs to a vision tower or its projector."""
    return any(part in VISION_MODULES for part in name.split("."))


def _vision_linear_names(model: Any) -> set[str]:
    import torch

    return {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and is_vision_module(n)}


def linear_module_names(model: Any) -> list[str]:
    """The last name component of every Linear layer except the output head (the seed's ``ALL``), sorted.

    bitsandbytes ``Linear4bit`` / ``Linear8bitLt`` subclass ``torch.nn.Linear`` and are included. The vision tower
    of a multimodal model is left out (LoRA tunes the language part; the vision tower stays frozen).
    """
    import torch

    heads = _head_names(model)
    head_lasts = {h.rsplit(".", 1)[-1] for h in heads}
    out: set[str] = set()
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name in heads or is_vision_module(name):
            continue
        last = name.rsplit(".", 1)[-1]
        if last in head_lasts:
            continue
        out.add(last)
    return sorted(out)


def resolve_targets(model: Any, targets: str | list[str], spec: ModelSpec | None = None) -> list[str]:
    """Module names LoRA wraps: ``auto`` = the spec's ``lora_targets`` (every Linear when the spec has none),
    ``all`` = every Linear except the head, or an explicit list (each checked against the model)."""
    linear = linear_module_names(model)
    if isinstance(targets, str):
        key = targets.lower()
        if key == "all":
            vision = _vision_linear_names(model)
            if any(v.rsplit(".", 1)[-1] in linear for v in vision):
                # a name the vision tower shares (q_proj in a CLIP tower): full names of the language part instead
                heads = _head_names(model)
                import torch

                return sorted(n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
                              and n not in heads and not is_vision_module(n) and n.rsplit(".", 1)[-1] in linear)
            return linear
        if key == "auto":
            if spec is not None and spec.lora_targets:
                return list(spec.lora_targets)
            return linear
        targets = [targets]
    wanted = list(targets)
    if len(wanted) == 1 and wanted[0].lower() in ("all", "auto"):
        return resolve_targets(model, wanted[0].lower(), spec)
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()} | {n for n, _ in model.named_modules()}
    missing = [t for t in wanted if t not in present]
    if missing:
        raise FtcoreError(
            f"tuner.targets: {', '.join(missing)} not found in the model; its Linear layers are: {', '.join(linear)}"
        )
    return wanted


def tuner_options(cfg: RunConfig, spec: ModelSpec, model: Any) -> TunerOptions:
    """The ``TunerOptions`` of a run (targets already resolved against ``model``)."""
    t = cfg.tuner
    method = t.method
    targets = resolve_targets(model, t.targets, spec) if method in ("lora", "qlora") else []
    # train.resume_from_checkpoint is handled by the Trainer (it restores the adapter with the optimizer state)
    return TunerOptions(
        method=method,
        rank=t.rank,
        alpha=t.alpha,
        dropout=t.dropout,
        targets=targets,
        bias=t.bias,
        modules_to_save=list(t.modules_to_save),
        model_spec=spec,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
    )


def _is_quantized(model: Any) -> bool:
    return bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "hf_quantizer", None) is not None
        or getattr(model, "quantization_method", None)
    )


def apply_tuner(model: Any, options: TunerOptions) -> Any:
    """Wrap ``model`` for training with ``options.method``: a ``peft.PeftModel`` for LoRA / QLoRA, the model
    itself (every parameter trainable) for ``full``."""
    method = options.method
    if method == "full":
        if _is_quantized(model):
            raise FtcoreError("tuner.method: full fine-tuning cannot train a quantized model; use method = 'qlora'")
        for p in model.parameters():
            p.requires_grad_(True)
        if options.gradient_checkpointing:
            _enable_checkpointing(model, lora=False)
        return model
    if method not in ("lora", "qlora"):
        raise FtcoreError(f"tuner.method: no installed plugin provides {method!r} (built in: {', '.join(METHODS)})")

    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if _is_quantized(model):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=options.gradient_checkpointing)
    elif method == "qlora":
        raise FtcoreError("tuner.method = 'qlora' needs a quantized model: set model.quantization.bits = 4")
    if options.gradient_checkpointing:
        _enable_checkpointing(model, lora=True)
    if options.adapter_dir:
        if not os.path.isfile(os.path.join(options.adapter_dir, "adapter_config.json")):
            raise FtcoreError(f"tuner: adapter folder {options.adapter_dir} holds no adapter_config.json")
        return PeftModel.from_pretrained(model, options.adapter_dir, is_trainable=True)
    if not options.targets:
        raise FtcoreError("tuner.targets: no modules to wrap with LoRA (give a list, or 'all')")
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.targets),
        bias=options.bias,  # type: ignore[arg-type]  # checked by TunerConfig
        modules_to_save=list(options.modules_to_save) or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _enable_checkpointing(model: Any, *, lora: bool) -> None:
    # With frozen embeddings (LoRA) the checkpointed blocks would see inputs that need no grad and drop the
    # adapters' gradients; enable_input_require_grads makes the embedding output require grad.
    if hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora and hasattr(model, "enable_input_require_grads"):
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


#: learning rate of ``train.lr = "auto"`` per method
DEFAULT_LR = {"lora": 1e-4, "qlora": 1e-4, "full": 2e-5}


def default_lr(method: str) -> float:
    """The learning rate ``train.lr = "auto"`` means for ``method``."""
    return DEFAULT_LR.get(method, 1e-4)

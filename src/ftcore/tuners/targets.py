"""Which modules LoRA wraps: ``tuner.targets`` (``auto`` | ``all`` | a list) resolved against a loaded model.

    targets = resolve_targets(model, cfg.tuner.targets, spec)   # auto | all | list → module names
"""

from __future__ import annotations

from typing import Any

from ftcore.errors import FtcoreError
from ftcore.specs import ModelSpec

__all__ = ["VISION_MODULES", "architecture_targets", "is_vision_module", "linear_module_names", "resolve_targets"]


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
    """The last name component of every Linear layer except the output head (ms-swift's ``ALL``), sorted.

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


def architecture_targets(model: Any) -> list[str]:
    """peft's default LoRA targets for the model's architecture (``config.model_type``), kept only where they name
    Linear layers of this model; empty when peft has no entry (the caller then takes every Linear but the head)."""
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping
    except ImportError:  # pragma: no cover - peft is a dependency; a trimmed install falls back to all
        return []
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    text_config = getattr(config, "text_config", None)
    text_type = getattr(text_config, "model_type", None)
    wanted = mapping.get(str(model_type)) or mapping.get(str(text_type)) or []
    linear = set(linear_module_names(model))
    found = [t for t in wanted if t in linear]
    return found if found and len(found) == len(wanted) else []


def resolve_targets(model: Any, targets: str | list[str], spec: ModelSpec | None = None) -> list[str]:
    """Module names LoRA wraps: ``auto`` = the spec's ``lora_targets`` (when the spec has none, e.g. a model
    without a plugin: peft's targets for the architecture, else every Linear but the head),
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
            return architecture_targets(model) or linear
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

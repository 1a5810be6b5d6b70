"""Tuning methods, registered in the catalog as :class:`ftcore.TunerSpec` (``register_tuners``), one module each.

    spec = get_tuner_spec("lora")                       # the catalog entry of tuner.method
    options = tuner_options(cfg, model_spec, model)     # TunerOptions, targets resolved if the method needs them
    model = apply_tuner(model, options)                 # the spec's apply (peft's LoRA, full …)
    lr = default_lr("full")                             # train.lr = "auto"

Built in: ``lora`` (:mod:`ftcore.tuners.lora`: DoRA, rsLoRA, PiSSA/OLoRA, LoRA+ … as options), ``qlora``
(:mod:`ftcore.tuners.qlora`, LoRA on a bitsandbytes-quantized model), ``full`` (:mod:`ftcore.tuners.full`), the
other peft adapters (``adalora``, ``ia3``, ``vera``, ``lokr`` / ``loha`` in :mod:`ftcore.tuners.lycoris`, ``oft`` /
``boft``), ``freeze`` and ``llama-pro`` (:mod:`ftcore.tuners.freeze`) and ``galore``; docs/tuning.md lists them.
Target resolution is in :mod:`ftcore.tuners.targets`.
Nothing here imports torch or peft at module level.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ftcore.errors import FtcoreError
from ftcore.registry import get_catalog
from ftcore.specs import ModelSpec, TunerOptions, TunerSpec
from ftcore.tuners.base import count_parameters, describe_parameters, enable_checkpointing, is_quantized
from ftcore.tuners.targets import VISION_MODULES, is_vision_module, linear_module_names, resolve_targets

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = [
    "VISION_MODULES",
    "apply_tuner",
    "count_parameters",
    "default_lr",
    "describe_parameters",
    "enable_checkpointing",
    "get_tuner_spec",
    "is_quantized",
    "is_vision_module",
    "linear_module_names",
    "method_option_values",
    "option_problems",
    "resolve_targets",
    "run_problems",
    "training_hook",
    "tuner_options",
]


def get_tuner_spec(method: str) -> TunerSpec:
    """The catalog entry of ``method``; an unknown name is an error suggesting close ones and listing the known."""
    return get_catalog().tuners.get(method)


def default_lr(method: str) -> float:
    """The learning rate ``train.lr = "auto"`` means for ``method`` (1e-4 for lora / qlora, 2e-5 for full)."""
    return float(get_tuner_spec(method).default_lr)


def method_option_values(tuner: Any) -> dict[str, Any]:
    """Every ``[tuner]`` key of a run except ``method``: the flat keys (rank, alpha …) and a plugin method's own."""
    values = {name: getattr(tuner, name) for name in type(tuner).model_fields if name != "method"}
    values.update(tuner.model_extra or {})
    return values


def option_problems(tuner: Any, spec: TunerSpec) -> list[str]:
    """Problems of a run's ``[tuner]`` keys for ``spec``, each as ``tuner.<key>: <message>``.

    The flat keys every run has (rank, alpha, dropout, targets, bias, modules_to_save) are validated by the config
    and ignored by methods that do not take them; any other key must be one of the method's options.
    """
    from ftcore.config import unknown_key_hint

    model = spec.options_model()
    own = set(model.model_fields) if model is not None else set()
    extras = dict(tuner.model_extra or {})
    problems = []
    for key in extras:
        if key in own:
            continue
        close = difflib.get_close_matches(key, sorted(own), n=1, cutoff=0.6)
        hint = f" (did you mean tuner.{close[0]}?)" if close else unknown_key_hint(f"tuner.{key}")
        if hint:
            problems.append(f"tuner.{key}: unknown key{hint}")
        else:
            takes = ", ".join(sorted(own)) or "no keys of its own"
            problems.append(f"tuner.{key}: unknown key for tuner method {spec.name!r} (it takes: {takes})")
    if model is None or problems:
        return problems
    from pydantic import ValidationError

    from ftcore.config import error_message

    values = {k: v for k, v in method_option_values(tuner).items() if k in own}
    try:
        model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            problems.append(f"tuner.{key}: {error_message(err)}")
    return problems


def tuner_options(cfg: RunConfig, spec: ModelSpec, model: Any) -> TunerOptions:
    """The ``TunerOptions`` of a run: targets resolved against ``model`` when the method needs them, and the
    method's own options validated by its options model (``method_options``)."""
    t = cfg.tuner
    tuner = get_tuner_spec(t.method)
    targets = resolve_targets(model, t.targets, spec) if tuner.needs_targets else []
    options_model = tuner.options_model()
    method_options = None
    if options_model is not None:
        own = set(options_model.model_fields)
        method_options = options_model.model_validate(
            {k: v for k, v in method_option_values(t).items() if k in own}
        )
        from_run = getattr(method_options, "from_run", None)
        if callable(from_run):
            method_options = from_run(cfg)  # completed from the run (AdaLoRA's total_step …)
    # train.resume_from_checkpoint is handled by the Trainer (it restores the adapter with the optimizer state)
    return TunerOptions(
        method=t.method,
        rank=t.rank,
        alpha=t.alpha,
        dropout=t.dropout,
        targets=targets,
        bias=t.bias,
        modules_to_save=list(t.modules_to_save),
        model_spec=spec,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        method_options=method_options,
    )


def run_problems(cfg: RunConfig, spec: TunerSpec) -> list[str]:
    """Problems of the run for ``spec`` as a whole (``key: message``): the method's options model's
    ``run_problems(cfg)`` (a missing package, a setting the method cannot work with) and ``infer.merge_lora``
    with a method that cannot merge. Assumes :func:`option_problems` found nothing."""
    out = []
    if cfg.train.deepspeed in ("zero3", "zero3-offload") and not spec.supports_zero3:
        out.append(f"train.deepspeed: tuner method {spec.name!r} does not work with DeepSpeed ZeRO-3; "
                   "use zero2 (see: ftcore tuners)")
    if cfg.infer.merge_lora and not spec.supports_merge:
        out.append(f"infer.merge_lora: tuner method {spec.name!r} saves no adapter to merge; "
                   "set infer.merge_lora = false")
    model = spec.options_model()
    if model is None:
        return out
    own = set(model.model_fields)
    options = model.model_validate({k: v for k, v in method_option_values(cfg.tuner).items() if k in own})
    check = getattr(options, "run_problems", None)
    if callable(check):
        out.extend(check(cfg))
    return out


def training_hook(options: TunerOptions | None, name: str) -> Any:
    """The method's training hook ``name`` (see :class:`ftcore.tuners.base.TrainingHooks`), or None: the run's
    validated options model may define ``training_arguments``, ``create_optimizer``, ``callbacks`` or
    ``finish_checkpoint``."""
    method_options = getattr(options, "method_options", None)
    hook = getattr(method_options, name, None)
    return hook if callable(hook) else None


def apply_tuner(model: Any, options: TunerOptions) -> Any:
    """Prepare ``model`` for training with ``options.method``: the registered method's ``apply`` (a
    ``peft.PeftModel`` for lora / qlora, the model itself with every parameter trainable for full …)."""
    try:
        tuner = get_tuner_spec(options.method)
    except FtcoreError as exc:
        raise FtcoreError(f"tuner.method: {exc}") from None
    if is_quantized(model) and not tuner.supports_quantized:
        raise FtcoreError(
            f"tuner.method: {tuner.name!r} cannot train a quantized model; use method = 'qlora', "
            "or load the model unquantized (model.quantization.bits = 0)"
        )
    result = tuner.apply_function()(model, options)
    if result is None:
        raise FtcoreError(f"tuner method {tuner.name!r} ({tuner.plugin}): apply returned None instead of the model")
    return result

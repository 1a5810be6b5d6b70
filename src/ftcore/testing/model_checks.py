"""The per-model steps of :func:`ftcore.testing.check_plugin` (ftcore.testing.conformance): the template
encodes a conversation, the default LoRA targets name Linear layers, and a two-step LoRA run trains and answers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ftcore.specs import ModelOptions, ModelSpec

#: rows the train + infer step learns from (a few generated conversations)
_ROWS = [
    {"messages": [{"role": "user", "content": f"What is {a} plus {b}?"},
                  {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]}
    for a, b in ((1, 2), (2, 3), (3, 5), (4, 4), (5, 6), (7, 1), (8, 2), (9, 9))
]
_CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello, who are you?"},
    {"role": "assistant", "content": "I am a tiny test model."},
    {"role": "user", "content": "What can you do?"},
    {"role": "assistant", "content": "Very little, but reliably."},
]


@dataclasses.dataclass
class ModelCheck:
    """What the check found for one model."""

    name: str
    problems: list[str] = dataclasses.field(default_factory=list)
    #: ``spec`` (static checks only), ``targets`` (tiny instance loaded, template and targets checked), ``trained``
    exercised: str = "spec"
    #: the stand-in architecture (or builder name) used, if any
    tiny: str | None = None
    #: resolved LoRA targets and how many Linear layers they wrap on the tiny instance
    targets: list[str] = dataclasses.field(default_factory=list)
    wrapped: int = 0
    #: the answer of the trained checkpoint (train + infer step)
    answer: str | None = None
    checkpoint: str | None = None


def _linear_like(module: Any) -> bool:
    import torch

    if isinstance(module, torch.nn.Linear):
        return True
    return type(module).__name__ in ("Conv1D", "Linear4bit", "Linear8bitLt", "QuantLinear")


def _check_targets(model: Any, spec: ModelSpec, check: ModelCheck) -> None:
    from ftcore.errors import FtcoreError
    from ftcore.tuners import resolve_targets

    try:
        targets = resolve_targets(model, "auto", spec)
    except FtcoreError as exc:
        check.problems.append(f"LoRA targets do not resolve: {exc}")
        return
    check.targets = list(targets)
    multimodal = "multimodal" in spec.tags
    wrapped = 0
    for target in targets:
        hits = [(n, m) for n, m in model.named_modules() if n == target or n.rsplit(".", 1)[-1] == target]
        linear = [n for n, m in hits if _linear_like(m)]
        if not linear:
            kinds = sorted({type(m).__name__ for _, m in hits}) or ["nothing"]
            check.problems.append(f"LoRA target {target!r} matches no Linear layer (matches {', '.join(kinds)})")
        if multimodal:
            vision = [n for n in linear if any(k in n.split(".") for k in ("visual", "vision_tower", "vision_model"))]
            if vision:
                check.problems.append(
                    f"LoRA target {target!r} reaches the vision tower ({vision[0]}); the default keeps it frozen"
                )
        wrapped += len(linear)
    check.wrapped = wrapped


def _check_template(spec: ModelSpec, tokenizer: Any, check: ModelCheck) -> None:
    from ftcore.templates import IGNORE_INDEX, get_template

    try:
        template = get_template(spec.template, tokenizer, model_spec=spec, max_length=256)
        conversation = _CONVERSATION if template.supports_multi_turn else _CONVERSATION[:1] + _CONVERSATION[-2:]
        enc = template.encode(conversation)
        if not any(label != IGNORE_INDEX for label in enc["labels"]):
            check.problems.append(f"template {spec.template!r}: the answer carries no labelled token")
        if not template.encode_prompt(conversation[:-1]):
            check.problems.append(f"template {spec.template!r}: empty generation prompt")
    except Exception as exc:  # noqa: BLE001 - reported, the other checks go on
        check.problems.append(f"template {spec.template!r} fails on this model's tokenizer: {type(exc).__name__}: {exc}")


def _load_tiny(spec: ModelSpec, model_dir: str) -> tuple[Any, Any]:
    from ftcore.models import load_with

    options = ModelOptions(model_dir=model_dir, dtype="fp32", trust_remote_code=spec.trust_remote_code)
    return load_with(spec, options)  # the spec's own loader, else the load_model hook


def _train_and_infer(spec_name: str, model_dir: str, work: Path, check: ModelCheck, steps: int) -> None:
    """Two LoRA steps through :func:`ftcore.train` with the catalog spec pointed at the tiny folder, then infer."""
    import ftcore
    from ftcore.registry import get_catalog

    data = work / "conformance-rows.jsonl"
    if not data.is_file():
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _ROWS), encoding="utf-8")
    catalog_spec = get_catalog().models.get(spec_name)
    saved = catalog_spec.path
    catalog_spec.path = model_dir  # a spec's local folder comes before its hub ids
    try:
        config = {
            # the plugin's own conformance run consents to the remote code its spec says the model needs
            "model": {"name": spec_name, "dtype": "fp32",
                      **({"trust_remote_code": True} if catalog_spec.trust_remote_code else {})},
            "template": {"max_length": 128},
            "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.0, "sample": -1},
            "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0, "targets": "auto"},
            "train": {"max_steps": steps, "batch_size": 2, "grad_accum": 1, "lr": 1e-3, "logging_steps": 1,
                      "eval_steps": steps, "save_steps": steps, "report_to": [], "dataloader_num_workers": 0,
                      "warmup_ratio": 0.0},
            "output": {"dir": str(work / "output")},
        }
        result = ftcore.train(config)
        check.checkpoint = result.last_checkpoint or result.best_checkpoint
        if not check.checkpoint:
            check.problems.append("train: no checkpoint written")
            return
        answer = ftcore.infer(check.checkpoint, "What is 2 plus 2?", max_new_tokens=4, do_sample=False)
        if not isinstance(answer, str):
            check.problems.append(f"infer returned {type(answer).__name__}, not text")
            return
        check.answer = answer
        check.exercised = "trained"
    except Exception as exc:  # noqa: BLE001 - reported with the model's name
        check.problems.append(f"train + infer failed: {type(exc).__name__}: {exc}")
    finally:
        catalog_spec.path = saved

"""``ftcore eval`` on a checkpoint of a reference-based preference stage (dpo): reward accuracy and margins on
the validation pairs, computed as in training (policy vs reference log-probs × beta).

The reference is what the run trained against: a LoRA checkpoint's base with the adapter disabled, else the
run's base model (or ``[dpo] reference``) loaded beside it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ftcore.errors import FtcoreError


def evaluate_preference_checkpoint(ckpt: str | os.PathLike[str], *, datasets: Sequence[str] | None = None,
                                   sample: int | None = None, out: str | os.PathLike[str] | None = None,
                                   allow_plugins: bool = False, batch_size: int = 4) -> dict[str, Any]:
    """Reward accuracy, margins, chosen / rejected rewards and log-probs over the validation pairs; writes
    ``<ckpt>/eval_report.json`` (or ``out``) and returns the report."""
    from ftcore.data.packing import packing_support
    from ftcore.data.preference import prepare_preference_data
    from ftcore.inference.checkpoint import load_checkpoint, plugin_consent, resolve_checkpoint
    from ftcore.training.stages.preference import PairCollator, ReferenceModel, pair_logps, pairs_in
    from ftcore.validation import stage_options

    path = resolve_checkpoint(ckpt)
    if sample is not None and sample < 1:
        raise FtcoreError(f"--sample: must be at least 1 (got {sample})")
    model, tokenizer, template, cfg = load_checkpoint(path, **plugin_consent(allow_plugins))
    opts = stage_options(cfg)
    if datasets:
        cfg.data.datasets = list(datasets)
        cfg.data.validation = list(datasets)
        cfg.data.sample = -1
    if cfg.template.name:  # as in training: no length cap in the template (the prompt alone is truncated)
        from ftcore.inference.checkpoint import template_for

        uncapped = cfg.template.model_copy(update={"max_length": -1, "loss_on": "last", "train_on_prompt": False})
        template = template_for(cfg.model_copy(update={"template": uncapped}), tokenizer)
    rows = prepare_preference_data(cfg, template, tokenizer, kind="pair").validation
    if rows is None or len(rows) == 0:
        raise FtcoreError(f"{path}: no validation pairs (the run had data.test_ratio = {cfg.data.test_ratio} and "
                          "no data.validation); give --dataset")
    if sample is not None:
        rows = rows.select(range(min(sample, len(rows))))
    if opts.reference == "auto" and hasattr(model, "disable_adapter"):
        reference = ReferenceModel("adapter")
    else:
        reference = ReferenceModel("model", _reference_model(cfg, opts.reference))
    from torch.utils.data import DataLoader

    from ftcore.data.collate import pad_token_id

    collator = PairCollator(pad_token_id(tokenizer), padding_free=packing_support(model) is None)
    device = next(model.parameters()).device
    if reference.model is not None:
        reference.model.to(device)
    model.eval()
    chosen_r: list[float] = []
    rejected_r: list[float] = []
    chosen_l: list[float] = []
    rejected_l: list[float] = []
    with torch.no_grad():
        for batch in DataLoader(rows, batch_size=batch_size, collate_fn=collator):
            batch = {k: v.to(device) for k, v in batch.items()}
            n = pairs_in(batch)
            logps = pair_logps(model, batch, 2 * n)["logps"]
            ref = reference.logps(model, batch, n, True).to(logps.device)
            rewards = float(opts.beta) * (logps - ref)
            chosen_r += rewards[:n].tolist()
            rejected_r += rewards[n:].tolist()
            chosen_l += logps[:n].tolist()
            rejected_l += logps[n:].tolist()
    k = len(chosen_r)
    margins = [c - r for c, r in zip(chosen_r, rejected_r, strict=True)]
    metrics = {
        "rewards/accuracies": sum(m > 0 for m in margins) / k, "rewards/margins": sum(margins) / k,
        "rewards/chosen": sum(chosen_r) / k, "rewards/rejected": sum(rejected_r) / k,
        "logps/chosen": sum(chosen_l) / k, "logps/rejected": sum(rejected_l) / k,
    }
    report = {"checkpoint": str(path), "stage": cfg.train.stage, "pairs": k, "metrics": metrics,
              "records": [{"reward_chosen": c, "reward_rejected": r, "margin": c - r}
                          for c, r in zip(chosen_r, rejected_r, strict=True)]}
    target = Path(out) if out else path / "eval_report.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"reward accuracy={metrics['rewards/accuracies']:.3f} margin={metrics['rewards/margins']:.4f} "
          f"chosen={metrics['rewards/chosen']:.4f} rejected={metrics['rewards/rejected']:.4f} ({k} pairs; "
          f"report: {target})", file=sys.stderr)
    return report


def _reference_model(cfg: Any, reference: str) -> Any:
    """The run's base model (``reference = "auto"`` on a full checkpoint) or the named reference, frozen."""
    from ftcore.models import load, resolve_dtype, resolve_model

    if reference != "auto":
        key = "path" if Path(cfg.resolve_path(reference)).is_dir() else "repo" if "/" in reference else "name"
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(
            update={"name": None, "path": None, "repo": None, key: reference})})
    spec, folder = resolve_model(cfg)
    model, _ = load(cfg, spec, folder, dtype=resolve_dtype(cfg.model.dtype, spec))
    model.eval()
    return model

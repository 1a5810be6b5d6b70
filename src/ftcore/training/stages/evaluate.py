"""``ftcore eval`` on a checkpoint of a preference stage (dpo, kto, orpo, simpo, cpo, rm, or a plugin's stage whose
recipe is a :class:`~ftcore.training.stages.preference.PreferenceRecipe`): its rewards on the validation data,
computed by the stage's own trainer (:meth:`PreferenceTrainer.scorer`), so they are the ``eval_`` metrics of
training.

- dpo / kto: the implicit reward ``beta × (policy log-prob − reference log-prob)`` of each answer; the reference
  is what the run trained against: a LoRA checkpoint's base with the adapter disabled, else the run's base model
  (or ``[<stage>] reference``) loaded beside it.
- orpo / simpo / cpo: no reference; ``beta ×`` the answer's per-token mean log-prob (orpo, simpo, cpo with ipo)
  or summed log-prob (cpo with sigmoid / hinge), as each stage logs them.
- rm: the score head's output for prompt + answer.

Pair stages report ``rewards/accuracies`` (fraction of pairs with chosen reward > rejected reward),
``rewards/margins`` (mean chosen − rejected), the mean rewards and log-probs. KTO's rows are single answers with a
label: ``rewards/chosen`` / ``rewards/rejected`` are the mean rewards of the desirable / undesirable answers,
``rewards/margins`` their difference (TRL's KTOTrainer), ``rewards/accuracies`` the fraction of answers on the right
side of the reference (desirable reward > 0, undesirable < 0), and ``rewards/pair_accuracies`` the fraction of
(desirable, undesirable) answer pairs to the same prompt ranked right, where the data has such pairs.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ftcore.errors import FtcoreError


def preference_recipe(stage: str) -> Any:
    """The recipe class of ``stage`` when it is a preference stage (``ftcore eval`` scores its rewards), else None
    (sft, or a stage that cannot be imported: evaluated by generation as before)."""
    if stage == "sft":
        return None
    from ftcore.training.recipe import get_recipe
    from ftcore.training.stages.preference import PreferenceRecipe

    try:
        recipe = get_recipe(stage)
    except FtcoreError:
        return None
    ok = isinstance(recipe, type) and issubclass(recipe, PreferenceRecipe) and recipe.trainer_class is not None
    return recipe if ok else None


def evaluate_preference_checkpoint(ckpt: str | os.PathLike[str], *, datasets: Sequence[str] | None = None,
                                   sample: int | None = None, out: str | os.PathLike[str] | None = None,
                                   allow_plugins: bool = False, batch_size: int | None = None) -> dict[str, Any]:
    """The stage's reward metrics over the validation pairs (KTO: labelled answers); writes
    ``<ckpt>/eval_report.json`` (or ``out``) and returns the report. ``batch_size`` defaults to the run's
    ``train.eval_batch_size`` (else ``train.batch_size``), the batches its evaluation used."""
    from ftcore.data.preference import prepare_preference_data
    from ftcore.inference.checkpoint import load_checkpoint, plugin_consent, resolve_checkpoint, template_for
    from ftcore.validation import stage_options

    path = resolve_checkpoint(ckpt)
    if sample is not None and sample < 1:
        raise FtcoreError(f"--sample: must be at least 1 (got {sample})")
    model, tokenizer, template, cfg = load_checkpoint(path, **plugin_consent(allow_plugins))
    recipe = preference_recipe(cfg.train.stage)
    if recipe is None:
        raise FtcoreError(f"{path}: train.stage = {cfg.train.stage!r} is not a preference stage; score it with "
                          "ftcore eval's generation metrics")
    opts = stage_options(cfg)
    if datasets:
        cfg.data.datasets = list(datasets)
        cfg.data.validation = list(datasets)
        cfg.data.sample = -1
    # as in training: no length cap in the template (the prompt alone is truncated)
    uncapped = cfg.template.model_copy(update={"name": cfg.template.name or template.spec.name, "max_length": -1,
                                               "loss_on": "last", "train_on_prompt": False})
    template = template_for(cfg.model_copy(update={"template": uncapped}), tokenizer)
    kto = recipe.data_kind == "kto"
    rows = prepare_preference_data(cfg, template, tokenizer, kind=recipe.data_kind).validation
    if rows is None or len(rows) == 0:
        raise FtcoreError(f"{path}: no validation {'rows' if kto else 'pairs'} (the run had data.test_ratio = "
                          f"{cfg.data.test_ratio} and no data.validation); give --dataset")
    if sample is not None:
        rows = rows.select(range(min(sample, len(rows))))
    if kto:  # each answer's mismatched answer for KTO's KL estimate, rotated as in training
        from ftcore.training.stages.kto import with_kl_ids

        rows = with_kl_ids(rows, max(2, int(cfg.train.batch_size)))
    reference = _reference(model, cfg, opts) if recipe.uses_reference else None
    scorer = recipe.trainer_class.scorer(opts, reference, loss_only_head=bool(cfg.train.loss_only_head))
    size = batch_size or cfg.train.eval_batch_size or cfg.train.batch_size
    values, losses, labels = _score(model, rows, scorer, _collator(recipe, model, tokenizer), max(1, int(size)))
    metrics = {name: sum(v) / len(v) for name, v in values.items() if v}
    metrics["loss"] = sum(losses) / len(losses)
    if kto:
        metrics.update(kto_accuracies(values, labels, [tuple(p) for p in rows["prompt_ids"]]))
        records = _kto_records(values, labels)
    else:
        records = [{"reward_chosen": c, "reward_rejected": r, "margin": c - r}
                   for c, r in zip(values["rewards/chosen"], values["rewards/rejected"], strict=True)]
    report = {"checkpoint": str(path), "stage": cfg.train.stage, ("rows" if kto else "pairs"): len(rows),
              "metrics": metrics, "records": records}
    target = Path(out) if out else path / "eval_report.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shown = " ".join(f"{k.split('/')[-1]}={metrics[k]:.4f}" for k in
                     ("rewards/accuracies", "rewards/pair_accuracies", "rewards/margins", "rewards/chosen",
                      "rewards/rejected", "kl") if k in metrics)
    print(f"{cfg.train.stage}: {shown} ({len(rows)} {'rows' if kto else 'pairs'}; report: {target})",
          file=sys.stderr)
    return report


def kto_accuracies(values: dict[str, list[float]], labels: list[bool], prompts: Sequence[Any]) -> dict[str, float]:
    """KTO's margin and accuracies from the desirable / undesirable rewards (in row order within each label):
    ``rewards/margins`` = mean desirable − mean undesirable reward; ``rewards/accuracies`` = the fraction of
    answers on the right side of the reference (desirable > 0, undesirable < 0); ``rewards/pair_accuracies`` =
    the fraction of (desirable, undesirable) answers to the same prompt with desirable reward > undesirable
    (only when such pairs exist)."""
    rewards = _by_row(values["rewards/chosen"], values["rewards/rejected"], labels)
    chosen, rejected = values["rewards/chosen"], values["rewards/rejected"]
    out: dict[str, float] = {}
    if chosen and rejected:
        out["rewards/margins"] = sum(chosen) / len(chosen) - sum(rejected) / len(rejected)
    out["rewards/accuracies"] = sum((r > 0) == y for r, y in zip(rewards, labels, strict=True)) / len(labels)
    groups: dict[Any, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for r, y, p in zip(rewards, labels, prompts, strict=True):
        groups[p][0 if y else 1].append(r)
    right = total = 0
    for good, bad in groups.values():
        right += sum(g > b for g in good for b in bad)
        total += len(good) * len(bad)
    if total:
        out["rewards/pair_accuracies"] = right / total
        out["answer_pairs"] = float(total)
    return out


def _by_row(desirable: list[float], undesirable: list[float], labels: list[bool]) -> list[float]:
    """Per-row values back in row order from the two per-label lists."""
    good, bad = iter(desirable), iter(undesirable)
    return [next(good) if y else next(bad) for y in labels]


def _kto_records(values: dict[str, list[float]], labels: list[bool]) -> list[dict[str, Any]]:
    rewards = _by_row(values["rewards/chosen"], values["rewards/rejected"], labels)
    logps = _by_row(values["logps/chosen"], values["logps/rejected"], labels)
    return [{"label": y, "reward": r, "logps": lp} for y, r, lp in zip(labels, rewards, logps, strict=True)]


def _score(model: Any, rows: Any, scorer: Any, collator: Any, batch_size: int
           ) -> tuple[dict[str, list[float]], list[float], list[bool]]:
    """Every batch through the stage's ``pair_loss``: its per-pair metric values, the batch losses and (KTO)
    the row labels, in row order."""
    from torch.utils.data import DataLoader

    values: dict[str, list[float]] = defaultdict(list)
    losses: list[float] = []
    labels: list[bool] = []
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(rows, batch_size=batch_size, collate_fn=collator):
            batch = {k: v.to(device) for k, v in batch.items()}
            loss, metrics = scorer.pair_loss(model, batch)
            losses.append(float(loss))
            for name, v in metrics.items():
                values[name] += v.detach().float().reshape(-1).tolist()
            if "label" in batch:
                labels += batch["label"].bool().tolist()
    return values, losses, labels


def _collator(recipe: Any, model: Any, tokenizer: Any) -> Any:
    """The stage's batches: padding-free pairs where the model isolates them (not the reward model's)."""
    from ftcore.data.collate import pad_token_id
    from ftcore.data.packing import packing_support
    from ftcore.training.stages.kto import KTOCollator
    from ftcore.training.stages.preference import PairCollator

    free = bool(recipe.padding_free_pairs) and packing_support(model) is None
    cls = KTOCollator if recipe.data_kind == "kto" else PairCollator
    return cls(pad_token_id(tokenizer), padding_free=free)


def _reference(model: Any, cfg: Any, opts: Any) -> Any:
    """The reference the run trained against (precomputed log-probs are recomputed live: the same values)."""
    from ftcore.training.stages.preference import ReferenceModel

    if opts.reference == "auto" and hasattr(model, "disable_adapter"):
        return ReferenceModel("adapter")
    ref = _reference_model(cfg, opts.reference)
    ref.to(next(model.parameters()).device)
    return ReferenceModel("model", ref)


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

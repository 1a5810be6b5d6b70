"""Generation-based evaluation: answer the validation set, score ROUGE-1/2/L and BLEU-4 (ms-swift's metrics).

* ROUGE: F-scores x100 of ``rouge-chinese`` on jieba-segmented text (jieba splits Chinese into words and keeps
  English words whole; whitespace tokens are dropped).
* BLEU-4: sentence BLEU x100 with smoothing method 3 of Chen & Cherry (ms-swift's nltk ``SmoothingFunction().method3``,
  here sacrebleu's ``exp`` smoothing, the same formula) over characters for CJK text and words for everything else.

Used during training (``eval.predict_with_generate``: the metrics join ``eval_loss`` and ``rouge-l`` picks the best
checkpoint) and after it (``ftcore eval CKPT``, which writes a JSON report with every prediction).
Needs the ``metrics`` extra: ``pip install 'ftcore[metrics]'``.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError

METRIC_NAMES = ("rouge-1", "rouge-2", "rouge-l", "bleu-4")
#: one BLEU token: a CJK character, or a run of other non-space characters (an English word, a number)
_BLEU_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\s\u3040-\u30ff"
                         r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise FtcoreError(
            f"generation metrics need {module.replace('_', '-')}: pip install 'ftcore[metrics]'"
        ) from None


def _jieba() -> Any:
    jieba = _need("jieba")
    import logging

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter
    return jieba


def rouge_tokens(text: str) -> list[str]:
    """The words ROUGE compares: jieba's segmentation without whitespace tokens."""
    return [w for w in (t.strip() for t in _jieba().cut(text)) if w]


def bleu_tokens(text: str) -> list[str]:
    """The units BLEU compares: CJK characters one by one, other text by whitespace-separated words."""
    return _BLEU_TOKEN.findall(text)


def sentence_bleu4(prediction: str, reference: str) -> float:
    """Sentence BLEU-4 (x100), smoothing method 3 (a zero n-gram precision becomes 1 / (2^k * total))."""
    bleu_mod = _need("sacrebleu.metrics.bleu")
    hyp, ref = bleu_tokens(prediction), bleu_tokens(reference)
    if not hyp or not ref:
        return 0.0
    from collections import Counter

    correct, total = [], []
    for n in range(1, 5):
        h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
        r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
        correct.append(sum(min(c, r[g]) for g, c in h.items()))
        total.append(max(len(hyp) - n + 1, 0))
    if len(hyp) < 4:
        # nltk (ms-swift) scores an n-gram order the hypothesis is too short for as 0/1, smoothed like any zero;
        # sacrebleu would stop at the last order with n-grams: count them as nltk does
        total = [t if t > 0 else 1 for t in total]
    score = bleu_mod.BLEU.compute_bleu(correct, total, len(hyp), len(ref), smooth_method="exp")
    return float(score.score)


def score_pair(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-scores and BLEU-4 of one prediction against its reference, each x100."""
    hyp, ref = rouge_tokens(prediction), rouge_tokens(reference)
    out = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    if hyp and ref:
        rouge = _need("rouge_chinese").Rouge()
        scores = rouge.get_scores(" ".join(hyp), " ".join(ref))[0]
        out = {k: float(scores[k]["f"]) * 100 for k in out}
    out["bleu-4"] = sentence_bleu4(prediction, reference)
    return out


def score_predictions(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """The mean of :func:`score_pair` over pairs (ms-swift's ``compute_metrics`` with generation)."""
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    if not predictions:
        return {k: 0.0 for k in METRIC_NAMES}
    sums = dict.fromkeys(METRIC_NAMES, 0.0)
    for p, r in zip(predictions, references, strict=True):
        for k, v in score_pair(p, r).items():
            sums[k] += v
    return {k: round(v / len(predictions), 6) for k, v in sums.items()}


# ------------------------------------------------------------------------------------------ generation


def split_sample(input_ids: Sequence[int], labels: Sequence[int]) -> tuple[list[int], list[int]] | None:
    """(prompt, reference ids) of an encoded sample: the prompt ends at the first labelled token (ms-swift's
    eval split), the reference is that labelled run."""
    first = next((i for i, label in enumerate(labels) if label != -100), None)
    if first is None:
        return None
    end = first
    while end < len(labels) and labels[end] != -100:
        end += 1
    return list(input_ids[:first]), list(labels[first:end])


def generate_records(model: Any, template: Any, rows: Any, generation: Any, *, limit: int | None = None,
                     batch_size: int | None = None) -> list[dict[str, Any]]:
    """Answer each encoded row (``input_ids`` / ``labels``) from its prompt, ``batch_size`` rows per
    ``model.generate`` call (:func:`ftcore.inference.generate.generate_batch`; 1 = one at a time); one record per
    row with ``prompt``, ``prediction``, ``reference`` and the row's scores."""
    import torch

    from ftcore.inference.batch import DEFAULT_GENERATION_BATCH, generate_batch
    from ftcore.inference.generate import stop_token_ids

    tokenizer = template.tokenizer
    stops = set(stop_token_ids(template))
    n = len(rows) if limit is None else min(limit, len(rows))
    splits = []
    for i in range(n):
        row = rows[i]
        split = split_sample(row["input_ids"], row["labels"])
        if split is not None:
            splits.append(split)
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with torch.no_grad():
            predictions = generate_batch(model, template, [p for p, _ in splits], generation=generation,
                                         batch_size=batch_size or DEFAULT_GENERATION_BATCH)
    finally:
        if was_training:
            model.train()
    records = []
    for (prompt_ids, reference_ids), prediction in zip(splits, predictions, strict=True):
        reference = tokenizer.decode([t for t in reference_ids if t not in stops], skip_special_tokens=True)
        records.append({
            "prompt": tokenizer.decode(prompt_ids, skip_special_tokens=False),
            "prediction": prediction,
            "reference": reference,
            **score_pair(prediction, reference),
        })
    return records


def average(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    if not records:
        return {k: 0.0 for k in METRIC_NAMES}
    return {k: round(sum(float(r[k]) for r in records) / len(records), 6) for k in METRIC_NAMES}


class GenerationEvaluator:
    """What ``FtcoreTrainer`` calls at each evaluation with ``eval.predict_with_generate``: generate on the
    (unpacked) validation rows and return ``{"rouge-1", "rouge-2", "rouge-l", "bleu-4"}``."""

    def __init__(self, template: Any, rows: Any, generation: Any, batch_size: int | None = None):
        _need("jieba"), _need("rouge_chinese"), _need("sacrebleu")  # fail before training, not at the first eval
        self.template = template
        self.rows = rows
        self.generation = generation
        self.batch_size = batch_size

    def __call__(self, model: Any) -> dict[str, float]:
        return average(generate_records(model, self.template, self.rows, self.generation,
                                        batch_size=self.batch_size))


def write_generation_config(ckpt_dir: str | os.PathLike[str], generation: Any, template: Any) -> Path:
    """Write the generation settings (``[generation]`` as resolved for the template) into
    ``<ckpt>/generation_config.json`` — ``eval.overwrite_generation_config``."""
    from ftcore.inference.generate import _hf_generation_config, generation_settings

    cfg = _hf_generation_config(generation_settings(generation), template)
    cfg.save_pretrained(str(ckpt_dir))
    return Path(ckpt_dir) / "generation_config.json"


def GenerationConfigCallback(generation: Any, template: Any) -> Any:  # noqa: N802 - a class factory
    """A TrainerCallback writing the evaluation's generation settings into each checkpoint's
    generation_config.json (``eval.overwrite_generation_config``), before any push callback sees it."""
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and ckpt.is_dir():
                write_generation_config(ckpt, generation, template)

    return _Callback()


# ------------------------------------------------------------------------------------------ ftcore eval


def evaluate_checkpoint(
    ckpt: str | os.PathLike[str],
    *,
    datasets: Sequence[str] | None = None,
    sample: int | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite_generation_config: bool | None = None,
    allow_plugins: bool = False,
    batch_size: int | None = None,
    **generation: Any,
) -> dict[str, Any]:
    """``ftcore eval``: generate on the run's validation set (or on ``datasets``, whole), ``batch_size`` samples
    per generate call (default 8), score, write a report.

    The report (``out``, default ``<ckpt>/eval_report.json``) holds the checkpoint, the generation settings, the
    averaged metrics and one record per sample (prompt, prediction, reference, its scores). Returns the report.
    """
    from ftcore.data import prepare_data
    from ftcore.inference.checkpoint import (
        checkpoint_config,
        load_checkpoint,
        plugin_consent,
        resolve_checkpoint,
    )
    from ftcore.inference.generate import generation_settings

    path = resolve_checkpoint(ckpt)
    gen = generation_settings(checkpoint_config(path).generation, **generation)
    if sample is not None and sample < 1:
        raise FtcoreError(f"--sample: must be at least 1 (got {sample})")
    for module in ("jieba", "rouge_chinese", "sacrebleu"):
        _need(module)
    model, tokenizer, template, cfg = load_checkpoint(path, **plugin_consent(allow_plugins))
    if datasets:
        entries: list[Any] = list(datasets)
        cfg.data.datasets = entries
        cfg.data.validation = entries  # every row of the given datasets is evaluated
        cfg.data.sample = -1
    prepared = prepare_data(cfg, template, tokenizer)
    rows = prepared.validation
    if rows is None or len(rows) == 0:
        raise FtcoreError(
            f"{path}: no validation samples (the run had data.test_ratio = {cfg.data.test_ratio} and no "
            "data.validation); give --dataset"
        )
    records = generate_records(model, template, rows, gen, limit=sample, batch_size=batch_size)
    report = {
        "checkpoint": str(path),
        "samples": len(records),
        "generation": gen.model_dump(),
        "metrics": average(records),
        "records": records,
    }
    target = Path(out) if out else path / "eval_report.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    overwrite = cfg.eval.overwrite_generation_config if overwrite_generation_config is None else \
        overwrite_generation_config
    if overwrite:
        write_generation_config(path, gen, template)
    metrics = report["metrics"]
    print(" ".join(f"{k}={v:.2f}" for k, v in metrics.items() if not math.isnan(v))
          + f" ({len(records)} samples; report: {target})", file=sys.stderr)
    return report

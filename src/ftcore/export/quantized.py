"""``--to gptq`` (gptqmodel) and ``--to awq`` (llm-compressor's AWQModifier; AutoAWQ is archived): 4-bit weights
calibrated on the run's own validation rows (encoded with its template), or on ``--calib-dataset`` (a registered
dataset or a file). Both are optional extras (``ftcore[gptq]``, ``ftcore[awq]``) needing a newer torch than the core
pins; ``nox -s export_quant`` runs them on a tiny model."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError, MissingDependencyError

#: format -> (module that must import, the extra that installs it)
PACKAGES = {"gptq": ("gptqmodel", "'ftcore[gptq]'"), "awq": ("llmcompressor", "'ftcore[awq]'"),
            "bnb": ("bitsandbytes", "'ftcore[bnb]'")}


def require(to: str) -> None:
    """A one-line error naming the extra when the quantizer of ``to`` is not installed (checked before loading)."""
    module, extra = PACKAGES[to]
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"ftcore export --to {to} ({module})", extra)


def calibration_rows(source: Any, calib_dataset: str | None, n: int) -> list[list[int]]:
    """Up to ``n`` encoded rows (token ids): the run's validation set, else its training set, or ``calib_dataset``."""
    from ftcore.data import prepare_data

    if n < 1:
        raise FtcoreError(f"--calib-samples {n}: must be at least 1")
    cfg = source.cfg.model_copy(deep=True)
    data = cfg.data
    data.streaming, data.lazy, data.packing = False, False, False
    if calib_dataset:
        data.datasets, data.validation, data.test_ratio, data.sample = [calib_dataset], [], 0.0, n
    prepared = prepare_data(cfg, source.template)
    rows = prepared.validation if not calib_dataset and prepared.validation is not None and len(
        prepared.validation) else prepared.train
    if rows is None or not len(rows):
        raise FtcoreError("GPTQ / AWQ calibration: no rows (the run has no data; pass --calib-dataset)")
    return [list(r["input_ids"]) for r in rows.select(range(min(n, len(rows))))]


def _group_size(model_dir: Path) -> int:
    import json

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    widths = [config.get("hidden_size", 128), config.get("intermediate_size", 128)]
    return next(g for g in (128, 64, 32) if all(w % g == 0 for w in widths))


def write_quantized(to: str, source: Any, dest: Path, quant: str, *, calib_dataset: str | None,
                    calib_samples: int) -> str:
    require(to)
    rows = calibration_rows(source, calib_dataset, calib_samples)
    bits = 8 if quant == "int8" else 4
    if to == "gptq":
        from gptqmodel import GPTQModel, QuantizeConfig

        model = GPTQModel.load(str(source.model_dir), QuantizeConfig(bits=bits, group_size=_group_size(
            source.model_dir)))
        model.quantize([{"input_ids": r, "attention_mask": [1] * len(r)} for r in rows], batch_size=1)
        model.save(str(dest))
    else:
        from datasets import Dataset
        from llmcompressor import oneshot
        from llmcompressor.modifiers.awq import AWQModifier
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(source.model_dir), dtype="auto")
        ds = Dataset.from_list([{"input_ids": r, "attention_mask": [1] * len(r)} for r in rows])
        oneshot(model=model, dataset=ds, recipe=[AWQModifier(ignore=["lm_head"], scheme="W4A16_ASYM",
                                                             targets=["Linear"])],
                max_seq_length=max(len(r) for r in rows), num_calibration_samples=len(rows))
        model.save_pretrained(str(dest), save_compressed=True)
    from ftcore.export.hf import finish_folder

    finish_folder(source, dest)
    return (f"{to.upper()} {bits}-bit weights: `AutoModelForCausalLM.from_pretrained(folder)` loads them (with "
            f"{PACKAGES[to][0]} installed), as do vLLM and SGLang.")

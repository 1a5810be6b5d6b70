"""bf16 on the CPU: model.dtype = "bf16" trains through autocast (bf16 weights, or fp32 weights with
train.fp32_master), its loss curve matches fp32; auto stays fp32 unless switched on; QLoRA's compute dtype follows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ftcore.config import config_from_dict

ROWS = [{"query": f"question {i}? " * (1 + i % 4), "response": f"answer {i}. " * (1 + i % 3)} for i in range(24)]


def test_cpu_bf16_detection_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.models as models

    assert models.cpu_has_fast_bf16("processor: 0\nflags\t: fpu sse avx512f avx512_bf16 avx512_vnni\n")
    assert models.cpu_has_fast_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not models.cpu_has_fast_bf16("flags : fpu sse avx2 avx512f\n")
    assert not models.cpu_has_fast_bf16("no flags line\n")
    monkeypatch.setattr(models, "accelerator", lambda: "cpu")
    assert models.resolve_dtype("auto") == "fp32"  # unchanged until measured (AUTO_BF16_ON_CPU)
    monkeypatch.setattr(models, "AUTO_BF16_ON_CPU", True)
    monkeypatch.setattr(models, "cpu_has_fast_bf16", lambda: True)
    assert models.resolve_dtype("auto") == "bf16"
    monkeypatch.setattr(models, "cpu_has_fast_bf16", lambda: False)
    assert models.resolve_dtype("auto") == "fp32"
    assert models.resolve_dtype("bf16") == "bf16"


def test_qlora_compute_dtype_follows_the_model_dtype(tmp_path: Path) -> None:
    from ftcore.models.loading import ModelLoader, ModelOptions
    from ftcore.specs import ModelSpec

    spec = ModelSpec(name="t", path=str(tmp_path))
    for dtype, expected in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        options = ModelOptions(model_dir=str(tmp_path), dtype=dtype, quantization={"bits": 4})
        qc = ModelLoader(spec, options).quantization_kwargs()["quantization_config"]
        assert qc.bnb_4bit_compute_dtype == expected


def _run(tmp: Path, **sections: Any) -> tuple[list[float], Any]:
    from ftcore.training.recipe import SFTRecipe

    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    raw: dict[str, Any] = {
        "model": {"name": "ftcore-tiny-qwen2"}, "template": {"max_length": 64},
        "data": {"datasets": [{"path": str(tmp / "rows.jsonl")}], "test_ratio": 0},
        "tuner": {"method": "lora"},
        "train": {"max_steps": 4, "batch_size": 4, "grad_accum": 1, "logging_steps": 1, "report_to": [],
                  "dataloader_num_workers": 0, "lr": 5e-3, "warmup_ratio": 0},
        "output": {"dir": str(tmp / "out")}}
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    recipe = SFTRecipe(config_from_dict(raw, base_dir=str(tmp)))
    recipe.run()
    assert recipe.result is not None
    records = [json.loads(x) for x in (Path(recipe.result.output_dir) / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r], recipe


def test_bf16_on_cpu_trains_with_a_matching_loss_curve(tmp_path: Path) -> None:
    fp32, _ = _run(tmp_path / "fp32", model={"dtype": "fp32"})
    bf16, recipe = _run(tmp_path / "bf16", model={"dtype": "bf16"})
    assert recipe.run_record.dtype == "bf16" and recipe.run_record.load_dtype == "bf16"
    assert recipe.trainer.args.bf16  # autocast
    weights = {p.dtype for n, p in recipe.model.named_parameters() if not p.requires_grad}
    trained = {p.dtype for p in recipe.model.parameters() if p.requires_grad}
    assert weights == {torch.bfloat16} and trained == {torch.float32}  # LoRA keeps fp32 weights
    master, recipe = _run(tmp_path / "master", model={"dtype": "bf16"}, train={"fp32_master": True})
    assert recipe.run_record.dtype == "bf16" and recipe.run_record.load_dtype == "fp32"
    assert {p.dtype for p in recipe.model.parameters()} == {torch.float32}
    assert len(fp32) == len(bf16) == len(master) == 4
    assert fp32[-1] < fp32[0]  # it learns (lr 5e-3) …
    for curve in (bf16, master):  # … and bf16 follows the same curve within 2 %
        assert all(abs(a - b) <= 0.02 * abs(a) for a, b in zip(fp32, curve, strict=True)), (fp32, curve)

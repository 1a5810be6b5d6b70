"""train.compile: torch.compile through the Trainer with LoRA, packing, the loss-only head and gradient
checkpointing; batches padded to a few bucket lengths so the model compiles once per bucket, not every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict
from ftcore.data.collate import DataCollator
from ftcore.training.compile import compile_arguments, compile_buckets, set_buckets

# answers of many lengths: packed rows (and padded batches) of many widths
ROWS = [{"query": "question " * (1 + i % 7), "response": "answer " * (1 + (i * 5) % 11)} for i in range(40)]


def _config(tmp: Path, packing: bool = True, **train: Any) -> Any:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return config_from_dict({
        "model": {"name": "ftcore-tiny-qwen2"}, "template": {"max_length": 64},
        "data": {"datasets": [{"path": str(tmp / "rows.jsonl")}], "packing": packing, "test_ratio": 0},
        "tuner": {"method": "lora"},
        "train": {"max_steps": 6, "batch_size": 2, "grad_accum": 1, "logging_steps": 1, "report_to": [],
                  "dataloader_num_workers": 0, "gradient_checkpointing": True, "loss_only_head": True, **train},
        "output": {"dir": str(tmp / "out")}}, base_dir=str(tmp))


def test_buckets_default_and_configured(tmp_path: Path) -> None:
    cfg = config_from_dict({"template": {"max_length": 3000}})
    assert compile_buckets(cfg) == (256, 512, 1024, 2048, 3000)
    assert compile_buckets(config_from_dict({"template": {"max_length": 2048}})) == (256, 512, 1024, 2048)
    assert compile_buckets(config_from_dict({"train": {"compile_buckets": [64, 32, 64]}})) == (32, 64)
    assert compile_arguments(cfg) == {}
    on = config_from_dict({"train": {"compile": True, "compile_backend": "aot_eager"}})
    assert compile_arguments(on) == {"torch_compile": True, "torch_compile_backend": "aot_eager"}


@pytest.mark.parametrize("packing", [True, False])
def test_collators_pad_to_the_bucket(packing: bool) -> None:
    collator = set_buckets(DataCollator(pad_token_id=0, packing=packing), (8, 16))
    rows = [{"input_ids": [5] * n, "labels": [5] * n} for n in (3, 5)]
    assert collator(rows)["input_ids"].shape == (2, 8)
    assert collator([{"input_ids": [5] * 11, "labels": [5] * 11}])["input_ids"].shape == (1, 16)
    assert collator([{"input_ids": [5] * 20, "labels": [5] * 20}])["input_ids"].shape == (1, 20)  # beyond: as is


def _compiled_run(tmp: Path, packing: bool, **train: Any) -> tuple[list[int], list[int], Any]:
    """(batch width of each step, unique dynamo graphs after each step, the recipe) of a compiled tiny run."""
    import torch._dynamo
    from torch._dynamo.utils import counters
    from transformers import TrainerCallback

    from ftcore.training.recipe import SFTRecipe

    torch._dynamo.reset()
    counters.clear()
    recipe = SFTRecipe(_config(tmp, packing, compile=True, compile_backend="eager", **train))
    for step in recipe.steps[:-1]:
        getattr(recipe, step)()
    widths: list[int] = []
    graphs: list[int] = []
    collate = recipe.trainer.data_collator

    def recording(features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate(features)
        widths.append(int(batch["input_ids"].shape[1]))
        return batch

    recipe.trainer.data_collator = recording

    class Count(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            graphs.append(int(counters["stats"]["unique_graphs"]))

    recipe.trainer.add_callback(Count())
    recipe.train()
    return widths, graphs, recipe


@pytest.mark.slow  # ~1 min each on 2 shared cores: dynamo traces the model (with checkpointing) per bucket
@pytest.mark.parametrize("packing", [False, True])
def test_compiled_run_compiles_once_per_bucket(tmp_path: Path, packing: bool) -> None:
    buckets = [24, 32, 36, 40, 44, 48, 52, 56, 60, 64]
    widths, graphs, recipe = _compiled_run(tmp_path, compile_buckets=buckets, packing=packing)
    unwrapped = recipe.trainer.accelerator.unwrap_model(recipe.trainer.model_wrapped, keep_torch_compile=True)
    assert hasattr(unwrapped, "_orig_mod")  # the Trainer compiled the model
    steps = widths[:len(graphs)]  # the data loader fetches one batch ahead
    assert len(graphs) == 6 and set(widths) <= set(buckets)
    if not packing:
        assert len(set(steps)) > 1  # padded batches of several widths …
    assert graphs[0] > 0  # the model went through dynamo
    for k in range(1, len(graphs)):  # … and a width seen before brings no new graph
        if steps[k] in steps[:k]:
            assert graphs[k] == graphs[k - 1], (steps, graphs)
    assert graphs[-1] <= len(set(steps)) * graphs[0]
    assert recipe.result is not None and recipe.result.metrics["train_loss"] > 0


@pytest.mark.slow
def test_inductor_compiled_tiny_run(tmp_path: Path) -> None:
    """The real compiler (inductor: C++ on the CPU; minutes on 2 shared cores)."""
    from ftcore.training import train

    result = train(_config(tmp_path, compile=True, max_steps=2, compile_buckets=[64]))
    assert result.metrics["train_loss"] > 0 and result.metrics["tokens_per_second"] > 0

"""Through FtcoreTrainer: gradient accumulation equals one big batch (token mean), packed and padded; the
group-by-length sampler is the one used for data.group_by_length."""

from __future__ import annotations

import pytest
import torch

from ftcore.data.packing import PackedCollator, concat_samples

from .conftest import load_tiny
from .test_loss import _encoded


def _padded_collator(features):
    from ftcore.data.collate import DataCollator

    return DataCollator(pad_token_id=0)(features)


def _train_one_step(model, rows, collator, *, batch, accum, tmp_path):
    from datasets import Dataset
    from transformers import TrainingArguments

    from ftcore.training.trainer import FtcoreTrainer

    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=batch, gradient_accumulation_steps=accum, max_steps=1,
        learning_rate=0.5, optim="sgd", max_grad_norm=0.0, lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=0.0, report_to="none", save_strategy="no", logging_strategy="no", use_cpu=True,
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True, seed=1, data_seed=1,
        train_sampling_strategy="sequential",
    )
    trainer = FtcoreTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=collator)
    trainer.train()
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_trainer_accumulation_equals_big_batch(tmp_path, layout):
    samples = _encoded(4096, n=8, seed=11)
    if layout == "packed":
        rows = [concat_samples(samples[i:i + 2]) for i in range(0, 8, 2)]  # 4 rows of unequal label counts
        collator = PackedCollator(pad_token_id=0)
    else:
        rows = samples[:4]
        collator = _padded_collator
    counts = [sum(1 for x in r["labels"][1:] if x != -100) for r in rows]
    assert len(set(counts)) > 1  # otherwise mean of means would coincide
    big = _train_one_step(load_tiny("llama").train(), rows, collator, batch=4, accum=1, tmp_path=tmp_path / "a")
    acc = _train_one_step(load_tiny("llama").train(), rows, collator, batch=1, accum=4, tmp_path=tmp_path / "b")
    start = dict(load_tiny("llama").named_parameters())
    moved = 0
    for name, value in big.items():
        torch.testing.assert_close(acc[name], value, rtol=1e-4, atol=1e-6, msg=name)
        moved += int(not torch.equal(value, start[name].detach()))
    assert moved > 0


def test_group_by_length_uses_ftcore_sampler(tmp_path):
    from datasets import Dataset
    from transformers import TrainingArguments

    from ftcore.training.sampler import LengthGroupedSampler
    from ftcore.training.trainer import FtcoreTrainer

    rows = _encoded(4096, n=12, seed=2)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, report_to="none", use_cpu=True,
                             remove_unused_columns=False, train_sampling_strategy="group_by_length")
    trainer = FtcoreTrainer(model=load_tiny("llama"), args=args, train_dataset=Dataset.from_list(rows),
                            data_collator=_padded_collator)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler)
    assert sorted(sampler) == list(range(12))
    assert trainer.model_accepts_loss_kwargs is True

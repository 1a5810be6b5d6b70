"""Group-by-length sampling for the non-packed path: batches of similar lengths, so little padding.

The order is random at two levels, as in transformers' ``LengthGroupedSampler``, but deterministic for a seed and
epoch: indices are shuffled, cut into *mega-batches* of ``batch_size × mega_batches`` samples, each mega-batch is
sorted longest first and cut into batches, and the batches are shuffled. The batch holding the longest sample goes
first, so an out-of-memory error shows at step one rather than hours in.

Packing (:mod:`ftcore.data.packing`) removes padding entirely and is the default for SFT; this is the cheaper
option where packing does not apply (e.g. a model without packed-sequence support).

Use: ``FtcoreTrainer._get_train_sampler`` returns ``LengthGroupedSampler(lengths_of(ds), batch_size, seed=...)``
when ``data.group_by_length`` is set, with ``batch_size`` = per-device batch × gradient accumulation steps (one
optimizer step's samples have similar lengths).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from torch.utils.data import Sampler


def lengths_of(dataset: Any, column: str = "input_ids") -> list[int]:
    """Token length of every sample (a ``length`` column is used when present)."""
    names = getattr(dataset, "column_names", None)
    if names is not None:
        if "length" in names:
            return [int(x) for x in dataset["length"]]
        return [len(x) for x in dataset[column]]
    return [len(row[column]) for row in dataset]


class LengthGroupedSampler(Sampler[int]):
    """Yields sample indices so that consecutive runs of ``batch_size`` have similar lengths."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, mega_batches: int = 50, seed: int = 42,
                 longest_first: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive (got {batch_size})")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.mega = max(1, mega_batches) * batch_size
        self.seed = seed
        self.longest_first = longest_first
        self.epoch = 0
        self._explicit_epoch = False

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (accelerate and the Trainer call this each epoch)."""
        self.epoch = epoch
        self._explicit_epoch = True

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self) -> list[list[int]]:
        """This epoch's batches (the last one may be short)."""
        rnd = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rnd.shuffle(order)
        batches: list[list[int]] = []
        for start in range(0, len(order), self.mega):
            mega = sorted(order[start:start + self.mega], key=lambda i: -self.lengths[i])
            batches += [mega[k:k + self.batch_size] for k in range(0, len(mega), self.batch_size)]
        # a short batch can only be last: keep it out of the shuffle
        tail = [b for b in batches if len(b) < self.batch_size]
        full = [b for b in batches if len(b) == self.batch_size]
        rnd.shuffle(full)
        batches = full + tail
        if self.longest_first and batches:
            top = max(range(len(full) or len(batches)), key=lambda k: max(self.lengths[i] for i in batches[k]))
            batches[0], batches[top] = batches[top], batches[0]
        return batches

    def __iter__(self) -> Iterator[int]:
        batches = self.batches()
        if not self._explicit_epoch:
            self.epoch += 1
        for b in batches:
            yield from b


def padding_ratio(lengths: Sequence[int], order: Sequence[int], batch_size: int) -> float:
    """Padded tokens / real tokens when ``order`` is cut into batches padded to their longest."""
    real = sum(lengths)
    padded = 0
    for k in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[k:k + batch_size]]
        padded += max(batch) * len(batch)
    return (padded - real) / max(real, 1)

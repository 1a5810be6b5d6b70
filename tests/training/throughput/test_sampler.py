"""Group-by-length sampler: a permutation, batches of similar lengths, deterministic, reshuffled per epoch."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ftcore.training.sampler import LengthGroupedSampler, lengths_of, padding_ratio


@given(st.lists(st.integers(1, 500), max_size=300), st.integers(1, 16))
@settings(max_examples=60, deadline=None)
def test_every_index_once(lengths, batch_size):
    order = list(LengthGroupedSampler(lengths, batch_size, mega_batches=4))
    assert sorted(order) == list(range(len(lengths)))


def test_less_padding_than_random_and_longest_first():
    rnd = random.Random(1)
    lengths = [min(1000, int(rnd.lognormvariate(5.0, 0.7))) + 1 for _ in range(400)]
    sampler = LengthGroupedSampler(lengths, 8, seed=3)
    order = list(sampler)
    shuffled = list(range(400))
    random.Random(0).shuffle(shuffled)
    assert padding_ratio(lengths, order, 8) < 0.5 * padding_ratio(lengths, shuffled, 8)
    assert max(lengths[i] for i in order[:8]) == max(lengths)


def test_deterministic_per_seed_and_epoch():
    lengths = list(range(1, 101))
    a, b = LengthGroupedSampler(lengths, 4, seed=7), LengthGroupedSampler(lengths, 4, seed=7)
    assert list(a) == list(b)
    a.set_epoch(1)
    b.set_epoch(1)
    first = list(a)
    assert first == list(b)
    a.set_epoch(2)
    assert list(a) != first


def test_short_batch_stays_last():
    lengths = [5] * 10 + [50]
    batches = LengthGroupedSampler(lengths, 4, mega_batches=1).batches()
    assert [len(b) for b in batches][:-1] == [4, 4] and len(batches[-1]) == 3


def test_lengths_of_dataset_and_list():
    from datasets import Dataset

    rows = [{"input_ids": [1] * n} for n in (3, 1, 2)]
    assert lengths_of(rows) == [3, 1, 2]
    assert lengths_of(Dataset.from_list(rows)) == [3, 1, 2]

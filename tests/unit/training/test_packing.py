"""Packed windows, seeded order and byte budgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokattn.training.packing import IGNORE_INDEX, EvalWindows, PackedSequences, window_target_bytes
from tokattn.training.tokenized import TokenizedSplit


@pytest.fixture(scope="module")
def train_split(tokenized_dir) -> TokenizedSplit:
    return TokenizedSplit.open(tokenized_dir / "bpe", "train")


def test_window_bytes_are_the_target_byte_counts(train_split):
    T = 50
    wb = window_target_bytes(train_split.byte_counts, T)
    counts = np.asarray(train_split.byte_counts, dtype=np.int64)
    assert len(wb) == (len(counts) - 1) // T
    for i in (0, 7, len(wb) - 1):
        assert wb[i] == counts[i * T + 1 : i * T + T + 1].sum()


def test_order_is_a_seeded_permutation_per_epoch(train_split):
    a = PackedSequences(train_split, 50, seed=3)
    b = PackedSequences(train_split, 50, seed=3)
    c = PackedSequences(train_split, 50, seed=4)
    n = a.n_windows
    first, second = a.window_of(np.arange(n)), a.window_of(np.arange(n, 2 * n))
    assert sorted(first.tolist()) == list(range(n)) == sorted(second.tolist())
    assert not np.array_equal(first, second)
    assert np.array_equal(first, b.window_of(np.arange(n)))
    assert not np.array_equal(first, c.window_of(np.arange(n)))
    # Any sequence number maps to the same window however it is asked for.
    k = np.array([5, n + 2, 3 * n + 1])
    assert a.window_of(k).tolist() == [a.window_of(np.array([x]))[0] for x in k]


@pytest.mark.parametrize("budget_share", [0.01, 0.5, 1.0, 2.7])
def test_sequences_for_budget_is_the_fewest_that_cover_it(train_split, budget_share):
    packed = PackedSequences(train_split, 50, seed=0)
    budget = max(1, int(packed.epoch_bytes * budget_share))
    n = packed.sequences_for_budget(budget)
    assert packed.bytes_of(np.arange(n)) >= budget
    assert packed.bytes_of(np.arange(n - 1)) < budget


def test_batch_shifts_targets_and_masks_past_the_budget(train_split):
    packed = PackedSequences(train_split, 50, seed=0)
    x, y = packed.batch(np.array([0, 1, 2]), n_valid=2, device=torch.device("cpu"))
    assert x.shape == y.shape == (3, 50) and x.dtype == torch.int64
    w = packed.window_of(np.array([0]))[0]
    row = torch.from_numpy(np.asarray(train_split.ids[w * 50 : w * 50 + 51], dtype=np.int64))
    assert torch.equal(x[0], row[:-1]) and torch.equal(y[0], row[1:])
    assert (y[2] == IGNORE_INDEX).all() and (y[:2] != IGNORE_INDEX).all()


def test_eval_windows_cover_the_same_leading_text_split_over_ranks(tokenized_dir):
    val = TokenizedSplit.open(tokenized_dir / "bpe", "val")
    windows = EvalWindows(val, 40, eval_bytes=2000)
    total = windows.packed.bytes_of(np.arange(windows.n))
    assert total >= 2000 > windows.packed.bytes_of(np.arange(windows.n - 1))
    cpu = torch.device("cpu")
    seen_bytes, n_batches = 0, []
    for rank in range(2):
        batches = list(windows.batches(3, rank, 2, cpu))
        n_batches.append(len(batches))
        for x, y, n_rows, n_bytes in batches:
            assert x.shape == (3, 40)
            assert (y[n_rows:] == IGNORE_INDEX).all()
            seen_bytes += n_bytes
    assert seen_bytes == total
    assert n_batches[0] == n_batches[1]  # ranks step in lockstep for the all-reduce

"""Packed training sequences, their order, and byte budgets.

The token stream of a split (documents joined by EOS) is cut into non-overlapping windows
of T+1 tokens that share their boundary token: window i holds tokens [i·T, i·T+T], its
inputs are the first T and its targets the last T. Attention may cross an EOS inside a
window (GPT-2 style packing); the EOS marks the boundary to the model.

Training walks the windows in a fresh seeded permutation per epoch. Sequence k of a run
is therefore a pure function of (seed, k), so the data position of a checkpoint is one
integer and a resumed run sees exactly the sequences an uninterrupted one would.
Because the bytes each window's targets stand for are known exactly (see tokenized.py),
a byte budget converts into a sequence count with no estimate in between.
"""

from __future__ import annotations

import numpy as np
import torch

from tokattn.training.tokenized import TokenizedSplit

IGNORE_INDEX = -100
_SUM_CHUNK_WINDOWS = 1 << 16


def window_target_bytes(byte_counts: np.ndarray, context_tokens: int) -> np.ndarray:
    """Return, per window, the UTF-8 bytes its T target tokens stand for (int64)."""
    T = context_tokens
    n = (len(byte_counts) - 1) // T
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, _SUM_CHUNK_WINDOWS):
        stop = min(n, start + _SUM_CHUNK_WINDOWS)
        block = np.asarray(byte_counts[1 + start * T : 1 + stop * T], dtype=np.int64)
        out[start:stop] = block.reshape(stop - start, T).sum(axis=1)
    return out


class PackedSequences:
    """Windows of one split in a seeded order, with exact byte accounting."""

    def __init__(self, split: TokenizedSplit, context_tokens: int, seed: int, shuffle: bool = True):
        self.split = split
        self.T = int(context_tokens)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.window_bytes = window_target_bytes(split.byte_counts, self.T)
        self.n_windows = len(self.window_bytes)
        if self.n_windows == 0:
            raise ValueError(
                f"split {split.meta.get('split')!r} has {len(split)} tokens: too few for one "
                f"window of {self.T + 1}; lower the context or add text"
            )
        self.epoch_bytes = int(self.window_bytes.sum())
        self._order_epoch = -1
        self._order = np.arange(self.n_windows)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return self._order
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order = rng.permutation(self.n_windows)
            self._order_epoch = epoch
        return self._order

    def window_of(self, k: np.ndarray) -> np.ndarray:
        """Return the window index of each sequence number in `k` (1-D int array)."""
        k = np.asarray(k, dtype=np.int64)
        epochs, pos = np.divmod(k, self.n_windows)
        out = np.empty_like(k)
        for epoch in np.unique(epochs):
            sel = epochs == epoch
            out[sel] = self._epoch_order(int(epoch))[pos[sel]]
        return out

    def sequences_for_budget(self, budget_bytes: int) -> int:
        """Return the fewest leading sequences whose targets cover at least `budget_bytes`."""
        full_epochs, rest = divmod(int(budget_bytes), self.epoch_bytes)
        if rest == 0:
            return full_epochs * self.n_windows
        cum = np.cumsum(self.window_bytes[self._epoch_order(full_epochs)])
        return full_epochs * self.n_windows + int(np.searchsorted(cum, rest)) + 1

    def bytes_of(self, k: np.ndarray) -> int:
        """Return the target bytes of the sequences numbered `k`."""
        return int(self.window_bytes[self.window_of(k)].sum())

    def batch(
        self, k: np.ndarray, n_valid: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (inputs, targets) for sequence numbers `k`; numbers >= n_valid are masked.

        Masked rows keep the batch shape constant (no recompiles, every DDP rank steps in
        lockstep) but their targets are IGNORE_INDEX, so they add no loss and no gradient.
        """
        windows = self.window_of(k)
        T = self.T
        rows = np.stack([self.split.ids[w * T : w * T + T + 1] for w in windows])
        rows = torch.from_numpy(rows.astype(np.int64))  # (B, T+1)
        x, y = rows[:, :-1], rows[:, 1:].clone()
        y[torch.from_numpy(np.asarray(k) >= n_valid)] = IGNORE_INDEX
        if device.type == "cuda":
            return (
                x.pin_memory().to(device, non_blocking=True),
                y.pin_memory().to(device, non_blocking=True),
            )
        return x.contiguous(), y


class EvalWindows:
    """The leading windows of a split, in order, that cover `eval_bytes` of its text.

    Every arm evaluates on the same prefix of the validation text (to within one window),
    whatever its tokenizer, so validation bits-per-byte is comparable across arms.
    """

    def __init__(self, split: TokenizedSplit, context_tokens: int, eval_bytes: int):
        self.packed = PackedSequences(split, context_tokens, seed=0, shuffle=False)
        self.n = min(self.packed.n_windows, self.packed.sequences_for_budget(eval_bytes))

    def batches(self, micro_batch: int, rank: int, world: int, device: torch.device):
        """Yield (inputs, targets, n_rows, n_bytes) for this rank's share, padded to full batches."""
        mine = np.arange(rank, self.n, world, dtype=np.int64)
        n_batches = -(-self.n // (world * micro_batch))  # same count on every rank
        for b in range(n_batches):
            k = mine[b * micro_batch : (b + 1) * micro_batch]
            n_bytes = self.packed.bytes_of(k) if len(k) else 0
            # Padding rows repeat a real window and have their targets masked.
            padded = np.resize(k, micro_batch) if len(k) else np.zeros(micro_batch, np.int64)
            x, y = self.packed.batch(padded, self.n, device)
            if len(k) < micro_batch:
                y[len(k) :] = IGNORE_INDEX
            yield x, y, len(k), n_bytes

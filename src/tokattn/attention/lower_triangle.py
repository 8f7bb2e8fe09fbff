"""Causal attention maps packed as lower triangles, row by row.

Row ``q`` of a ``T × T`` causal map has ``q + 1`` entries and occupies
``[q(q+1)/2, q(q+1)/2 + q + 1)`` of the packed vector of length ``T(T+1)/2``: half the
storage of the dense map, and a (layer, head) map stays one contiguous chunk.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def packed_size(n_tokens: int) -> int:
    """Return the number of lower-triangle entries (diagonal included) of an n × n map."""
    return n_tokens * (n_tokens + 1) // 2


def n_tokens_of(n_packed: int) -> int:
    """Return n such that n(n+1)/2 == n_packed (the map size of a packed triangle)."""
    n = (math.isqrt(8 * n_packed + 1) - 1) // 2
    if packed_size(n) != n_packed:
        raise ValueError(f"{n_packed} is not a triangular number")
    return n


def row_offsets(n_tokens: int) -> np.ndarray:
    """Return the packed offset of every query row: row q starts at q(q+1)/2."""
    q = np.arange(n_tokens + 1, dtype=np.int64)
    return q * (q + 1) // 2


@lru_cache(maxsize=8)
def _tril_flat_index(n_tokens: int) -> np.ndarray:
    rows, cols = np.tril_indices(n_tokens)
    return rows * n_tokens + cols


def pack_lower(maps: np.ndarray) -> np.ndarray:
    """Return the causal lower triangles of maps [..., q, k] packed row by row: [..., q(q+1)/2]."""
    n = maps.shape[-1]
    if maps.shape[-2] != n:
        raise ValueError(f"maps must be square in the last two axes, got {maps.shape}")
    return np.take(maps.reshape(*maps.shape[:-2], n * n), _tril_flat_index(n), axis=-1)


def unpack_lower(packed: np.ndarray, n_tokens: int, dtype=np.float32) -> np.ndarray:
    """Return dense maps [..., q, k] (zeros above the diagonal) from packed lower triangles."""
    if packed.shape[-1] != packed_size(n_tokens):
        raise ValueError(
            f"packed length {packed.shape[-1]} != {packed_size(n_tokens)} for n={n_tokens}"
        )
    out = np.zeros((*packed.shape[:-1], n_tokens, n_tokens), dtype=dtype)
    mask = _tril_mask(n_tokens)
    # A 2-D boolean mask fills its True cells in row-major order (the packing order); one
    # map at a time, as numpy's ellipsis + mask path is ~10x slower.
    flat_out = out.reshape(-1, n_tokens, n_tokens)
    flat_in = packed.reshape(-1, packed.shape[-1])
    if flat_in.dtype == np.float16 and out.dtype == np.float32:
        flat_in = _half_to_single(flat_in)
    for i in range(flat_in.shape[0]):
        flat_out[i][mask] = flat_in[i]
    return out


@lru_cache(maxsize=1)
def _half_table() -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


def _half_to_single(values: np.ndarray) -> np.ndarray:
    """float16 -> float32 through a 65536-entry table: numpy's cast is ~5x slower on the
    subnormal values that fill attention maps (weights below 6e-5)."""
    return np.take(_half_table(), np.ascontiguousarray(values).view(np.uint16))


@lru_cache(maxsize=8)
def _tril_mask(n_tokens: int) -> np.ndarray:
    return np.tri(n_tokens, dtype=bool)

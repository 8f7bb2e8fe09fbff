"""Byte-branch models in the attention dump: byte frames and their window mapping.

A byte-branch model's cross-attention maps are [token, byte] in a byte frame (BOS byte,
then the bytes of every token, from the model's own `byte_inputs`). The dump stores them
in the probe's frame; a window's frame is mapped into it token by token.
"""

from __future__ import annotations

import numpy as np
import torch


def is_byte_branch(model) -> bool:
    """Return whether `model` is a byte-branch model (it yields cross-attention maps)."""
    return hasattr(model, "byte_inputs") and hasattr(model, "cross_attn")


def byte_frame(model, ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Return (byte_ids [byte_pos], token_byte_ends [pos]) of one token sequence [pos]."""
    byte_ids, ends = model.byte_inputs(ids[None])  # [1, byte_pos], [1, pos]
    return byte_ids[0].cpu().numpy(), ends[0].cpu().numpy()


def window_byte_index(
    ends_window: np.ndarray, ends_probe: np.ndarray, index: np.ndarray, n_bytes_window: int
) -> np.ndarray:
    """Return the probe-frame position [byte_pos_window] of every byte of a window's frame.

    Token k of the window (probe position index[k]) owns bytes [end[k-1], end[k]) of
    either frame (from 1 for the first token: byte 0 is the BOS byte, mapped to 0).
    """
    out = np.zeros(n_bytes_window, np.int64)
    start_w = 1
    for k, g in enumerate(index):
        start_p = max(1, int(ends_probe[g - 1])) if g > 0 else 1
        end_w, end_p = int(ends_window[k]), int(ends_probe[g])
        if end_w - start_w != end_p - start_p and end_w > start_w:
            raise RuntimeError(
                f"token {g}: {end_w - start_w} bytes in its window, not {end_p - start_p}"
            )
        out[start_w:end_w] = np.arange(start_p, start_p + max(0, end_w - start_w))
        start_w = max(start_w, end_w)
    return out


def byte_branch_summary(model) -> dict:
    """Return the root attributes that describe a byte-branch model's branch."""
    cfg = model.config
    keys = (
        "byte_d_model",
        "byte_n_layers",
        "byte_n_heads",
        "byte_d_ff",
        "byte_window",
        "cross_n_heads",
        "cross_window_bytes",
    )
    return {
        "byte_branch": True,
        "cross_layers": np.asarray(cfg.cross_layers, np.int32),
        **{k: -1 if getattr(cfg, k) is None else int(getattr(cfg, k)) for k in keys},
    }

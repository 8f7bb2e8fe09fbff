"""Validation loss of a model under training: mean NLL per token and bits per byte."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tokattn.training.distributed import DistContext
from tokattn.training.packing import IGNORE_INDEX, EvalWindows
from tokattn.training.train_config import autocast_for


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    windows: EvalWindows,
    micro_batch: int,
    ctx: DistContext,
    dtype: torch.dtype,
) -> tuple[float, float]:
    """Return (mean NLL per token in nats, bits per byte) over the evaluation windows."""
    was_training = model.training
    model.eval()
    nll = torch.zeros((), dtype=torch.float64, device=ctx.device)
    n_tokens = n_bytes = 0
    T = windows.packed.T
    for x, y, n_rows, b in windows.batches(micro_batch, ctx.rank, ctx.world, ctx.device):
        with autocast_for(ctx.device, dtype):
            logits = model(input_ids=x, use_cache=False).logits  # (B, T, V)
            nll += F.cross_entropy(
                logits.view(-1, logits.size(-1)),
                y.view(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            ).double()
        n_tokens += n_rows * T
        n_bytes += b
    totals = torch.stack(
        [
            nll,
            torch.tensor(float(n_tokens), dtype=torch.float64, device=ctx.device),
            torch.tensor(float(n_bytes), dtype=torch.float64, device=ctx.device),
        ]
    )
    nll_sum, tokens, nbytes = ctx.all_reduce_sum(totals).tolist()
    model.train(was_training)
    return nll_sum / tokens, nll_sum / math.log(2) / nbytes

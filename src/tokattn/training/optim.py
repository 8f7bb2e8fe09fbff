"""Optimizer, learning-rate schedule and gradient accumulation of the training loop."""

from __future__ import annotations

import math

import torch


def grad_accum_steps(batch_size: int, micro_batch_size: int, world: int) -> int:
    """Return micro-steps per optimizer step so that micro × accum × world == batch."""
    per_step = micro_batch_size * world
    if batch_size % per_step:
        raise ValueError(
            f"config key 'training.batch_size': {batch_size} is not a multiple of "
            f"micro_batch_size × processes = {micro_batch_size} × {world}"
        )
    return batch_size // per_step


def lr_at(step: int, total_steps: int, warmup_steps: int, lr: float, min_lr: float) -> float:
    """Return the learning rate of `step`: linear warmup, then cosine decay to min_lr."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))) * (lr - min_lr)


def make_optimizer(
    model: torch.nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    device: torch.device,
) -> torch.optim.AdamW:
    """Return AdamW (fused on CUDA) with weight decay on ≥2-dim tensors only.

    Matrices and embeddings decay; RMSNorm gains do not (decaying them pulls the
    normalised activations towards zero for no regularisation benefit).
    """
    decay, no_decay = [], []
    for param in model.parameters():  # deduplicated: tied weights appear once
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8, **fused)

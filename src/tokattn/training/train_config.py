"""The `training` config section of one run and its precision: dtype and autocast."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, fields

import torch


@dataclass(frozen=True)
class TrainConfig:
    """The `training` config section (defaults mirror config/schema.yaml)."""

    budget_bytes: int
    batch_size: int = 32
    micro_batch_size: int = 8
    lr: float = 6e-4
    min_lr: float = 6e-5
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 200
    eval_bytes: int = 1_000_000
    checkpoint_interval: int = 500
    log_interval: int = 10
    compile: bool = False
    dtype: str = "auto"
    device: str = "auto"
    attn_implementation: str = "sdpa"
    tf32: bool = True
    tensorboard: bool = False
    peak_tflops: float | None = None

    @classmethod
    def from_mapping(cls, training: Mapping) -> TrainConfig:
        """Return the config from a (validated) `training` mapping; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in training.items() if k in names})


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Return the autocast dtype: bf16 on CUDA when supported under 'auto', else fp32."""
    if name == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def autocast_for(device: torch.device, dtype: torch.dtype):
    """Return the autocast context for a dtype (a no-op context for fp32)."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)

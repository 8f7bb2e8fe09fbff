"""Configuration of the byte-branch model: a Llama config plus the byte branch's options.

This file imports only transformers: `save_pretrained` copies it next to the weights so
an exported folder loads with `trust_remote_code=True` and no tokattn installed.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import LlamaConfig


def resolve_cross_layers(spec, n_layers: int) -> list[int]:
    """Return the sorted main-layer indices named by `{"first_k": k}`, a list of ints or "all"."""
    if spec is None:
        return [0]
    if spec == "all":
        return list(range(n_layers))
    if isinstance(spec, dict):
        if set(spec) != {"first_k"}:
            raise ValueError(f"cross_layers: a mapping must be {{'first_k': k}}, got {spec!r}")
        k = spec["first_k"]
        if not isinstance(k, int) or not 1 <= k <= n_layers:
            raise ValueError(f"cross_layers.first_k must be an int in 1..{n_layers}, got {k!r}")
        return list(range(k))
    if isinstance(spec, (list, tuple)):
        layers = sorted({int(i) for i in spec})
        if not layers or any(not 0 <= i < n_layers for i in layers):
            raise ValueError(f"cross_layers: indices must lie in 0..{n_layers - 1}, got {spec!r}")
        return layers
    raise ValueError(
        f"cross_layers must be {{'first_k': k}}, a list of ints or 'all', got {spec!r}"
    )


@strict
class ByteBranchConfig(LlamaConfig):
    """LlamaConfig of the main (token) decoder plus the byte branch and its cross-attention.

    byte_window / cross_window_bytes: None means full causal attention (every earlier byte).
    cross_layers: stored as concrete indices; `{"first_k": k}` and "all" are resolved here.
    """

    model_type = "tokattn_byte_branch"

    byte_d_model: int = 64
    byte_n_layers: int = 1
    byte_n_heads: int = 4
    byte_d_ff: int | None = None  # None: SwiGLU width 8/3 · byte_d_model, multiple of 8
    byte_window: int | None = 64
    cross_layers: list[int] | dict | str | None = None  # None: [0]
    cross_n_heads: int | None = None  # None: byte_n_heads
    cross_window_bytes: int | None = None
    gate_init: float = 0.0
    max_token_bytes: int = 16
    byte_rope_theta: float = 10000.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.byte_d_ff is None:
            self.byte_d_ff = max(8, round(self.byte_d_model * 8 / 3 / 8) * 8)
        if self.cross_n_heads is None:
            self.cross_n_heads = self.byte_n_heads
        self.cross_layers = resolve_cross_layers(self.cross_layers, self.num_hidden_layers)
        for name in ("byte_d_model", "byte_n_layers", "byte_n_heads", "max_token_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("byte_window", "cross_window_bytes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        for name in ("byte_n_heads", "cross_n_heads"):
            if self.byte_d_model % getattr(self, name):
                raise ValueError(
                    f"byte_d_model {self.byte_d_model} is not a multiple of {name} "
                    f"{getattr(self, name)}"
                )
        if (self.byte_d_model // self.byte_n_heads) % 2:
            raise ValueError("byte_d_model / byte_n_heads must be even (RoPE)")

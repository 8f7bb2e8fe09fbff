"""Model arms: a Llama-style decoder (RoPE, RMSNorm, SwiGLU) built from an arm's config.

An *arm* is a tokenizer plus model options (config key `models`). The model is a stock
`transformers.LlamaForCausalLM`, so a saved folder loads with `AutoModelForCausalLM`
and no tokattn import. Parameter and FLOP counts follow the usual conventions (Kaplan
et al. 2020 for non-embedding parameters, PaLM appendix B / nanoGPT for FLOPs) so they
can be compared with published numbers.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM

# Peak dense bf16 tensor-core throughput (TFLOP/s, no sparsity) used for MFU when the
# config does not name one; the first key found in torch.cuda.get_device_name() wins.
GPU_PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 125.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "V100": 125.0,
}


@dataclass(frozen=True)
class ArmSpec:
    """One model arm as resolved for training: every size is concrete."""

    name: str
    tokenizer: str
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    context_tokens: int
    tied_embeddings: bool = True
    rope_theta: float = 10000.0
    init_std: float = 0.02
    bos_token_id: int = 0
    eos_token_id: int = 1
    pad_token_id: int = 2

    def to_dict(self) -> dict:
        """Return the spec as a plain dict (for JSON and checkpoints)."""
        return asdict(self)


def non_embedding_params_for(
    d_model: int, n_layers: int, n_heads: int, n_kv_heads: int, d_ff: int
) -> int:
    """Return the non-embedding parameter count of a Llama decoder with these sizes."""
    head_dim = d_model // n_heads
    attn = d_model * head_dim * (n_heads + 2 * n_kv_heads) + n_heads * head_dim * d_model
    mlp = 3 * d_model * d_ff  # gate, up, down (SwiGLU)
    norms = 2 * d_model
    return n_layers * (attn + mlp + norms) + d_model  # + final RMSNorm


def d_ff_matching(
    target_non_embedding: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    n_kv_heads: int,
    multiple: int = 8,
) -> int:
    """Return the SwiGLU width (a multiple of `multiple`) whose count is nearest the target."""
    fixed = non_embedding_params_for(d_model, n_layers, n_heads, n_kv_heads, 0)
    exact = (target_non_embedding - fixed) / (3 * d_model * n_layers)
    lo = max(multiple, math.floor(exact / multiple) * multiple)
    candidates = [lo, lo + multiple]
    return min(
        candidates,
        key=lambda f: abs(
            non_embedding_params_for(d_model, n_layers, n_heads, n_kv_heads, f)
            - target_non_embedding
        ),
    )


def resolve_arm(
    arm: Mapping,
    arms_by_name: Mapping[str, Mapping],
    vocab_size: int,
    bytes_per_token: float,
    special_ids: Mapping[str, int],
) -> ArmSpec:
    """Return the concrete ArmSpec for a config arm, given its tokenizer's statistics.

    `context_bytes` becomes `round(context_bytes / bytes_per_token)` tokens (train split
    mean), so every arm's window covers about the same text; `match_non_embedding_params`
    (an arm name or a count) resizes `d_ff`.
    """
    n_kv = arm.get("n_kv_heads") or arm["n_heads"]
    if arm.get("context_tokens"):
        context = int(arm["context_tokens"])
    else:
        context = max(8, round(arm["context_bytes"] / bytes_per_token))
    d_ff = arm["d_ff"]
    match = arm.get("match_non_embedding_params")
    if match is not None:
        if isinstance(match, str):
            ref = arms_by_name[match]
            target = non_embedding_params_for(
                ref["d_model"],
                ref["n_layers"],
                ref["n_heads"],
                ref.get("n_kv_heads") or ref["n_heads"],
                ref["d_ff"],
            )
        else:
            target = int(match)
        d_ff = d_ff_matching(
            target, arm["d_model"], arm["n_layers"], arm["n_heads"], n_kv, arm.get("ff_multiple", 8)
        )
    return ArmSpec(
        name=arm["name"],
        tokenizer=arm["tokenizer"],
        vocab_size=int(vocab_size),
        d_model=arm["d_model"],
        n_layers=arm["n_layers"],
        n_heads=arm["n_heads"],
        n_kv_heads=n_kv,
        d_ff=d_ff,
        context_tokens=context,
        tied_embeddings=arm.get("tied_embeddings", True),
        rope_theta=float(arm.get("rope_theta", 10000.0)),
        init_std=float(arm.get("init_std", 0.02)),
        bos_token_id=special_ids["bos"],
        eos_token_id=special_ids["eos"],
        pad_token_id=special_ids["pad"],
    )


def llama_config(spec: ArmSpec, attn_implementation: str = "sdpa") -> LlamaConfig:
    """Return the `LlamaConfig` for an arm (RoPE, RMSNorm, SwiGLU, no biases, no dropout)."""
    kwargs = dict(
        vocab_size=spec.vocab_size,
        hidden_size=spec.d_model,
        intermediate_size=spec.d_ff,
        num_hidden_layers=spec.n_layers,
        num_attention_heads=spec.n_heads,
        num_key_value_heads=spec.n_kv_heads,
        max_position_embeddings=spec.context_tokens,
        initializer_range=spec.init_std,
        rms_norm_eps=1e-5,
        tie_word_embeddings=spec.tied_embeddings,
        bos_token_id=spec.bos_token_id,
        eos_token_id=spec.eos_token_id,
        pad_token_id=spec.pad_token_id,
        attention_dropout=0.0,
        use_cache=True,
    )
    # transformers 5 moved rope_theta into rope_parameters; 4.x still takes rope_theta.
    if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": spec.rope_theta}
    else:
        kwargs["rope_theta"] = spec.rope_theta
    config = LlamaConfig(**kwargs)
    config._attn_implementation = attn_implementation
    return config


def build_model(spec: ArmSpec, seed: int, attn_implementation: str = "sdpa") -> LlamaForCausalLM:
    """Return a freshly initialised fp32 model; same spec and seed give the same weights."""
    config = llama_config(spec, attn_implementation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Return total and non-embedding parameter counts (input and output embeddings excluded)."""
    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    embedding = embed.numel() + (0 if head is embed else head.numel())
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def flops_per_token(spec: ArmSpec, non_embedding_params: int) -> int:
    """Return training FLOPs per token: 6·(N_non-emb + d·V) + 12·L·d·T (PaLM / nanoGPT).

    The LM head matmul is real compute (6·d·V) while the input embedding is a lookup; the
    attention term counts the full T×T score matrix, as nanoGPT's MFU does.
    """
    head = spec.d_model * spec.vocab_size
    attn = 12 * spec.n_layers * spec.d_model * spec.context_tokens
    return 6 * (non_embedding_params + head) + attn


def gpu_peak_tflops(device: torch.device, override: float | None = None) -> float | None:
    """Return the bf16 peak TFLOP/s of a CUDA device (config override first), else None."""
    if override:
        return float(override)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in GPU_PEAK_BF16_TFLOPS.items():
        if key in name:
            return peak
    return None

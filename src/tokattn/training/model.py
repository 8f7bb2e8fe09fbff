"""Model arms: a Llama-style decoder (RoPE, RMSNorm, SwiGLU) built from an arm's config.

An *arm* is a tokenizer plus model options (config key `models`). The model is a stock
`transformers.LlamaForCausalLM`, so a saved folder loads with `AutoModelForCausalLM`
and no tokattn import. An arm with a `byte_branch` is a `ByteBranchForCausalLM`
(tokattn.training.byte_branch): the same Llama decoder plus a byte decoder read through
cross-attention; its folder carries the model code and loads with
`trust_remote_code=True`, or after `import tokattn.training.byte_branch`. Parameter and FLOP
counts follow the usual conventions (Kaplan et al. 2020 for non-embedding parameters,
PaLM appendix B / nanoGPT for FLOPs) so they can be compared with published numbers; a
byte branch's parameters are counted apart so the main decoders stay matched.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

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


# Bound of `context_tokens` in config/schema.yaml (2^20), also applied to the token count
# that `context_bytes` converts to.
MAX_CONTEXT_TOKENS = 1 << 20


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
    # ByteBranchConfig keyword arguments (byte_d_model, ..., cross_layers as concrete
    # layer indices); None for a plain decoder.
    byte_branch: dict | None = None

    def to_dict(self) -> dict:
        """Return the spec as a plain dict (for JSON and checkpoints)."""
        out = asdict(self)
        if out["byte_branch"] is None:
            # Plain arms keep the dict (and the checkpoint fingerprint) they had before.
            del out["byte_branch"]
        return out


def byte_branch_options(branch: Mapping, n_layers: int) -> dict:
    """Return the ByteBranchConfig keyword arguments of a config arm's `byte_branch`."""
    from tokattn.training.byte_branch import resolve_cross_layers

    return {
        "byte_d_model": int(branch["d_model"]),
        "byte_n_layers": int(branch["n_layers"]),
        "byte_n_heads": int(branch.get("n_heads", 2)),
        "byte_d_ff": branch.get("d_ff"),  # None: the model's SwiGLU default
        "byte_window": branch.get("window_bytes"),
        "cross_layers": [
            int(i)
            for i in resolve_cross_layers(branch.get("cross_layers", {"first_k": 1}), n_layers)
        ],
        "cross_n_heads": int(branch.get("cross_heads", 4)),
        "cross_window_bytes": branch.get("cross_window_bytes"),
        "gate_init": float(branch.get("gate_init", 0.0)),
    }


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
    if context > MAX_CONTEXT_TOKENS:
        # context_bytes is checked against its own bound in the schema; the token count it
        # gives depends on the tokenizer, so only here can it be checked.
        key = "context_tokens" if arm.get("context_tokens") else "context_bytes"
        raise ValueError(
            f"model arm {arm['name']!r}: config key '{key}' gives a context of {context} "
            f"tokens, above the limit of {MAX_CONTEXT_TOKENS}"
        )
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
        byte_branch=(
            byte_branch_options(arm["byte_branch"], arm["n_layers"])
            if arm.get("byte_branch") is not None
            else None
        ),
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


def build_model(
    spec: ArmSpec,
    seed: int,
    attn_implementation: str = "sdpa",
    tokenizer_dir: str | Path | None = None,
) -> torch.nn.Module:
    """Return a freshly initialised fp32 model; same spec and seed give the same weights.

    A byte-branch arm needs `tokenizer_dir` (its token → bytes table). Its main decoder
    gets the weights the plain arm of the same seed starts from; the branch is drawn
    after them from the same generator.
    """
    config = llama_config(spec, attn_implementation)
    if spec.byte_branch is not None and tokenizer_dir is None:
        raise ValueError(f"arm {spec.name!r}: a byte branch needs its tokenizer folder")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        if spec.byte_branch is not None:
            from tokattn.training.byte_branch import ByteBranchForCausalLM, token_byte_table

            table, lengths = token_byte_table(str(tokenizer_dir), vocab_size=spec.vocab_size)
            model = ByteBranchForCausalLM.from_llama(
                model, max_token_bytes=int(table.shape[1]), **spec.byte_branch
            )
            model.set_token_bytes(table, lengths)
            model.config._attn_implementation = attn_implementation
    return model


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Return total, embedding, non-embedding (main decoder) and byte-branch parameter counts.

    `non_embedding` counts the main decoder only (the number arms are matched on);
    `byte_branch` is everything a byte-branch model adds (byte decoder, cross-attention
    and gates), 0 for a plain decoder; `total` includes it.
    """
    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    embedding = embed.numel() + (0 if head is embed else head.numel())
    branch = 0
    if hasattr(model, "byte_branch") and hasattr(model, "cross_attn"):
        main = {id(p) for p in model.model.parameters()} | {id(head)}
        branch = sum(p.numel() for k, p in unique.items() if k not in main)
    return {
        "total": total,
        "embedding": embedding,
        "non_embedding": total - embedding - branch,
        "byte_branch": branch,
    }


def flops_per_token(
    spec: ArmSpec,
    non_embedding_params: int,
    byte_branch_params: int = 0,
    bytes_per_token: float = 1.0,
) -> int:
    """Return training FLOPs per token: 6·(N_non-emb + d·V) + 12·L·d·T (PaLM / nanoGPT).

    The LM head matmul is real compute (6·d·V) while the input embedding is a lookup; the
    attention term counts the full T×T score matrix, as nanoGPT's MFU does.

    A byte branch adds, per token, `bytes_per_token` (b) byte positions: 6·N_branch·b
    (every branch parameter counted once per byte, an upper bound for the cross-attention
    query and output projections that run once per token), plus the byte decoder's
    scores 12·L1·d1·K1·b (K1 = keys per byte: the byte window, or all T·b bytes) and the
    cross-attention scores 12·C·d·Kc (Kc: cross window, or T·b bytes) for C cross layers.
    """
    head = spec.d_model * spec.vocab_size
    attn = 12 * spec.n_layers * spec.d_model * spec.context_tokens
    flops = 6 * (non_embedding_params + head) + attn
    branch = spec.byte_branch
    if branch is not None:
        b = float(bytes_per_token)
        context_bytes = spec.context_tokens * b
        k1 = min(branch["byte_window"] or context_bytes, context_bytes)
        kc = min(branch["cross_window_bytes"] or context_bytes, context_bytes)
        flops += 6 * byte_branch_params * b
        flops += 12 * branch["byte_n_layers"] * branch["byte_d_model"] * k1 * b
        flops += 12 * len(branch["cross_layers"]) * spec.d_model * kc
    return int(round(flops))


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

"""Per-head decomposition of attention outputs and the logit lens, for HF causal LMs.

A layer's attention output is ``o = W_O z + b`` with ``z`` the concatenated head outputs
``[pos, head * d_head]``. Slicing ``W_O`` by head gives each head's own contribution
``c_h = W_O[:, h] z_h`` with ``Σ_h c_h + b = o`` exactly (up to float rounding): heads are
never zeroed or re-run. ``z`` and ``o`` are read with hooks on the output projection,
the residual stream with hooks on the decoder layers.

Supported families (`family_of`): GPT-2 (fused ``c_attn``, ``Conv1D`` ``c_proj`` with
bias) and Llama-style decoders (``q/k/v/o_proj``, grouped-query attention: the output
projection still sees one ``d_head`` slice per *query* head, so the split is the same).
A byte-branch model's main decoder is such a Llama decoder: its cross-attention is added
to the residual stream at a layer's input, so the decomposition of the layer's own
self-attention output is unchanged and the residual read after the layer (logit lens)
includes the bytes' contribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LLAMA_LIKE = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "olmo", "olmo2", "smollm3", "granite", "phi3"}
)


@dataclass
class LayerHandles:
    """The modules of one decoder layer that the decomposition reads."""

    block: nn.Module
    out_proj: nn.Module
    n_heads: int
    head_dim: int
    transposed: bool  # GPT-2 Conv1D stores the weight as [in, out]


@dataclass
class Architecture:
    """Where a model keeps its layers, final norm and unembedding."""

    family: str
    layers: list[LayerHandles]
    final_norm: nn.Module
    lm_head: nn.Module
    n_heads: int
    n_kv_heads: int
    d_model: int


def family_of(model: nn.Module) -> str:
    """Return 'gpt2' or 'llama' for a supported model; raise NotImplementedError otherwise."""
    model_type = getattr(model.config, "model_type", "")
    if model_type == "gpt2":
        return "gpt2"
    if model_type in LLAMA_LIKE or _has_llama_layout(model):
        return "llama"
    raise NotImplementedError(
        f"head decomposition supports the GPT-2 and Llama families; got model_type {model_type!r}"
    )


def _has_llama_layout(model: nn.Module) -> bool:
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    return (
        bool(layers)
        and hasattr(layers[0], "self_attn")
        and hasattr(layers[0].self_attn, "o_proj")
        and hasattr(inner, "norm")
    )


def architecture(model: nn.Module) -> Architecture:
    """Return the Architecture (layer handles, final norm, LM head) of a supported model."""
    family = family_of(model)
    cfg = model.config
    if family == "gpt2":
        n_heads = cfg.n_head
        layers = [
            LayerHandles(block, block.attn.c_proj, n_heads, cfg.n_embd // n_heads, True)
            for block in model.transformer.h
        ]
        return Architecture(
            family, layers, model.transformer.ln_f, model.lm_head, n_heads, n_heads, cfg.n_embd
        )
    n_heads = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_heads
    layers = []
    for block in model.model.layers:
        o_proj = block.self_attn.o_proj
        layers.append(LayerHandles(block, o_proj, n_heads, o_proj.in_features // n_heads, False))
    return Architecture(
        family, layers, model.model.norm, model.lm_head, n_heads, n_kv, cfg.hidden_size
    )


@dataclass
class ForwardCapture:
    """What one forward pass exposes, batch axis removed."""

    attentions: list[torch.Tensor]  # layer × [head, q, k]
    head_inputs: list[torch.Tensor]  # layer × [pos, head * d_head] (input of W_O)
    attn_outputs: list[torch.Tensor]  # layer × [pos, d_model] (output of W_O, bias included)
    residuals: list[torch.Tensor]  # layer × [pos, d_model] (residual stream after the layer)
    logits: torch.Tensor  # [pos, vocab]
    # Byte-branch models: cross layer × [cross_head, pos, byte_pos]; None otherwise.
    cross_attentions: list[torch.Tensor] | None = None


@torch.no_grad()
def run_with_capture(
    model: nn.Module, arch: Architecture, input_ids: torch.Tensor
) -> ForwardCapture:
    """Run `model` on one sequence [pos] with eager attention and return a ForwardCapture."""
    n = len(arch.layers)
    head_inputs: list = [None] * n
    attn_outputs: list = [None] * n
    residuals: list = [None] * n
    handles = []

    def out_proj_hook(i):
        def hook(_module, args, output):
            head_inputs[i] = args[0][0].detach()
            attn_outputs[i] = output[0].detach()

        return hook

    def block_hook(i):
        def hook(_module, _args, output):
            hidden = output[0] if isinstance(output, tuple | list) else output
            residuals[i] = hidden[0].detach()

        return hook

    for i, layer in enumerate(arch.layers):
        handles.append(layer.out_proj.register_forward_hook(out_proj_hook(i)))
        handles.append(layer.block.register_forward_hook(block_hook(i)))
    try:
        out = model(input_ids=input_ids[None], output_attentions=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    if out.attentions is None or any(a is None for a in out.attentions):
        raise RuntimeError(
            "the model returned no attention weights: load it with attn_implementation='eager'"
        )
    cross = getattr(out, "cross_attentions", None)
    return ForwardCapture(
        attentions=[a[0] for a in out.attentions],
        head_inputs=head_inputs,
        attn_outputs=attn_outputs,
        residuals=residuals,
        logits=out.logits[0],
        cross_attentions=None if cross is None else [c[0] for c in cross],
    )


def head_contributions(layer: LayerHandles, head_input: torch.Tensor) -> torch.Tensor:
    """Return each head's output through its slice of W_O: [head, pos, d_model] (no bias)."""
    weight = layer.out_proj.weight
    z = head_input.reshape(
        head_input.shape[0], layer.n_heads, layer.head_dim
    )  # [pos, head, d_head]
    if layer.transposed:  # Conv1D: y = z @ W, W [head * d_head, d_model]
        w = weight.reshape(layer.n_heads, layer.head_dim, -1)
    else:  # Linear: y = z @ W.T, W [d_model, head * d_head]
        w = weight.T.reshape(layer.n_heads, layer.head_dim, -1)
    return torch.einsum("phd,hde->hpe", z.to(w.dtype), w)  # [head, pos, d_model]


def out_proj_bias(layer: LayerHandles) -> torch.Tensor | None:
    """Return the output projection's bias (None when it has none)."""
    return getattr(layer.out_proj, "bias", None)


@dataclass
class HeadStats:
    """Per-head contribution statistics of one layer."""

    norm: torch.Tensor  # [head, pos]
    cosine: torch.Tensor  # [head, pos]
    out_norm: torch.Tensor  # [pos]
    max_error: float  # max |Σ heads + bias − attention output|


@torch.no_grad()
def head_stats(
    layer: LayerHandles, head_input: torch.Tensor, attn_output: torch.Tensor
) -> HeadStats:
    """Return norms, cosines to the layer output and the decomposition error of one layer."""
    contrib = head_contributions(layer, head_input).float()  # [head, pos, d_model]
    total = contrib.sum(0)
    bias = out_proj_bias(layer)
    if bias is not None:
        total = total + bias.float()
    out = attn_output.float()
    error = (total - out).abs().max().item() if out.numel() else 0.0
    cosine = torch.nn.functional.cosine_similarity(contrib, out[None], dim=-1, eps=1e-12)
    return HeadStats(contrib.norm(dim=-1), cosine, out.norm(dim=-1), error)


def attention_entropy(attn: torch.Tensor) -> torch.Tensor:
    """Return the entropy in nats of every attention row: [..., q, k] -> [..., q]."""
    a = attn.float()
    return -(torch.xlogy(a, a)).sum(-1)


@torch.no_grad()
def logit_lens(
    arch: Architecture, residual: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return top-k (ids, probs) [pos, k] of lm_head(final_norm(residual)) for one layer."""
    logits = arch.lm_head(arch.final_norm(residual)).float()
    probs = torch.softmax(logits, dim=-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return top.indices, top.values


@torch.no_grad()
def iterative_logit_lens(
    arch: Architecture, residual: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return k (ids, probs) [pos, k]: decode, remove the winner's unembedding direction, repeat.

    The projection acts on the normalised residual, the input of the (linear) LM head,
    so removing direction u changes the logits exactly by its component along u.
    """
    hidden = arch.final_norm(residual).float()  # [pos, d_model]
    w_u = arch.lm_head.weight.float()  # [vocab, d_model]
    bias = getattr(arch.lm_head, "bias", None)
    ids, probs = [], []
    for _ in range(k):
        logits = hidden @ w_u.T
        if bias is not None:
            logits = logits + bias.float()
        p = torch.softmax(logits, dim=-1)
        best = p.argmax(-1)  # [pos]
        ids.append(best)
        probs.append(p.gather(-1, best[:, None])[:, 0])
        u = w_u[best]  # [pos, d_model]
        coef = (hidden * u).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True).clamp_min(1e-12)
        hidden = hidden - coef * u
    return torch.stack(ids, -1), torch.stack(probs, -1)


def model_summary(arch: Architecture, model: nn.Module) -> dict:
    """Return the root attributes that describe the model's shape."""
    return {
        "model_family": arch.family,
        "model_type": getattr(model.config, "model_type", ""),
        "n_layers": len(arch.layers),
        "n_heads": arch.n_heads,
        "n_kv_heads": arch.n_kv_heads,
        "head_dim": arch.layers[0].head_dim if arch.layers else 0,
        "d_model": arch.d_model,
        "vocab_size": int(arch.lm_head.weight.shape[0]),
    }


def context_length(model: nn.Module) -> int:
    """Return the model's maximum number of positions."""
    cfg = model.config
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(cfg, key, None)
        if value:
            return int(value)
    raise ValueError("model config names no context length (max_position_embeddings)")

"""Per-head decomposition of attention outputs and the logit lens, for HF causal LMs.

A layer's attention output is ``o = W_O z + b`` with ``z`` the concatenated head outputs
``[pos, head * d_head]``. Slicing ``W_O`` by head gives each head's own contribution
``c_h = W_O[:, h] z_h`` with ``Σ_h c_h + b = o`` exactly (up to float rounding): heads are
never zeroed or re-run. ``z`` and ``o`` are read with hooks on the output projection,
the residual stream with hooks on the decoder layers.

Supported families (`family_of`, by ``model_type``, listed in `FAMILIES`): GPT-2 (fused
``c_attn``, ``Conv1D`` ``c_proj`` with bias) and Llama-style decoders (``q/k/v/o_proj``,
grouped-query attention: the output projection still sees one ``d_head`` slice per
*query* head, so the split is the same). Any other ``model_type`` is refused with an error
naming it, even when its modules look like Llama's: a family may transform its logits or
its residual updates in ways a layout check cannot see.

What is decomposed is what the attention adds to the residual stream (`residual_entry`):

- pre-norm families: ``o`` itself;
- Granite: ``residual_multiplier · o``;
- post-norm families (OLMo2, Gemma2: ``h + norm(o)``): ``norm`` is an RMSNorm, linear in
  ``o`` once its per-position scale ``s = 1/sqrt(mean(o²) + eps)`` is fixed, so each head
  adds ``g ⊙ c_h · s`` and the bias ``g ⊙ b · s``, which sum to ``norm(o)`` exactly.

The logit lens applies the family's own logit transform (`Architecture.logits`): Granite
divides by ``logits_scaling``, Gemma2 soft-caps with ``final_logit_softcapping``, so the
last layer's lens is the model's own next-token distribution.

A byte-branch model's main decoder is such a Llama decoder: its cross-attention is added
to the residual stream at a layer's input, so the decomposition of the layer's own
self-attention output is unchanged and the residual read after the layer (logit lens)
includes the bytes' contribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# model_type -> layout family. Pre-norm Llama-layout decoders whose logits are
# lm_head(norm(h)) and whose attention adds o to the residual, plus the three families
# with their own transforms (handled in `architecture`). Nothing else is accepted.
FAMILIES = {
    "gpt2": "gpt2",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
    "qwen3": "llama",
    "olmo": "llama",
    "smollm3": "llama",
    "phi3": "llama",
    "tokattn_byte_branch": "llama",
    "granite": "llama",  # logits / logits_scaling; residual += residual_multiplier · o
    "olmo2": "llama",  # post-norm: residual += norm(o)
    "gemma2": "llama",  # post-norm, and logits soft-capped by final_logit_softcapping
}
POST_NORM = frozenset({"olmo2", "gemma2"})


@dataclass
class LayerHandles:
    """The modules of one decoder layer that the decomposition reads."""

    block: nn.Module
    out_proj: nn.Module
    n_heads: int
    head_dim: int
    transposed: bool  # GPT-2 Conv1D stores the weight as [in, out]
    residual_scale: float = 1.0  # Granite: residual_multiplier
    post_norm: nn.Module | None = None  # OLMo2/Gemma2: the RMSNorm applied to o


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
    model_type: str = ""
    logit_divisor: float = 1.0  # Granite: logits_scaling
    logit_softcap: float | None = None  # Gemma2: final_logit_softcapping

    def logits(self, normed: torch.Tensor) -> torch.Tensor:
        """Return the model's logits (float32) for final-normed residuals [..., d_model]."""
        return self.transform_logits(self.lm_head(normed).float())

    def transform_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply the family's own transform to lm_head outputs (scaling, soft-capping)."""
        if self.logit_divisor != 1.0:
            logits = logits / self.logit_divisor
        if self.logit_softcap is not None:
            logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
        return logits


def family_of(model: nn.Module) -> str:
    """Return 'gpt2' or 'llama' for a supported model_type; raise NotImplementedError otherwise."""
    model_type = getattr(model.config, "model_type", "")
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    raise NotImplementedError(
        f"model_type {model_type!r} ({type(model).__name__}) is not supported by the head "
        "decomposition and logit lens (its logit or residual transforms are unknown); "
        f"supported: {', '.join(sorted(FAMILIES))} (GPT-2 and Llama families)"
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
            family,
            layers,
            model.transformer.ln_f,
            model.lm_head,
            n_heads,
            n_heads,
            cfg.n_embd,
            model_type="gpt2",
        )
    model_type = cfg.model_type
    n_heads = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_heads
    residual_scale = float(cfg.residual_multiplier) if model_type == "granite" else 1.0
    layers = []
    for block in model.model.layers:
        o_proj = block.self_attn.o_proj
        post = block.post_attention_layernorm if model_type in POST_NORM else None
        head_dim = o_proj.in_features // n_heads
        layers.append(LayerHandles(block, o_proj, n_heads, head_dim, False, residual_scale, post))
    softcap = getattr(cfg, "final_logit_softcapping", None) if model_type == "gemma2" else None
    return Architecture(
        family,
        layers,
        model.model.norm,
        model.lm_head,
        n_heads,
        n_kv,
        cfg.hidden_size,
        model_type=model_type,
        logit_divisor=float(cfg.logits_scaling) if model_type == "granite" else 1.0,
        logit_softcap=float(softcap) if softcap else None,
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


def _rms_gain_eps(norm: nn.Module) -> tuple[torch.Tensor, float]:
    """Return (gain [d_model], eps) of an RMSNorm: OLMo2's weight, Gemma2's 1 + weight."""
    eps = getattr(norm, "variance_epsilon", None)
    if eps is None:
        eps = getattr(norm, "eps", None)
    weight = getattr(norm, "weight", None)
    if eps is None or weight is None:
        raise NotImplementedError(f"post-attention norm {type(norm).__name__} is not an RMSNorm")
    gain = weight.float()
    if type(norm).__name__.startswith("Gemma"):  # Gemma norms scale by (1 + weight)
        gain = 1.0 + gain
    return gain, float(eps)


@torch.no_grad()
def residual_entry(
    layer: LayerHandles, contrib: torch.Tensor, bias: torch.Tensor | None, attn_output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Return (heads [head, pos, d], bias [pos, d] or None, total [pos, d]) as added to the residual.

    Pre-norm: c_h, b, o (times Granite's residual_multiplier). Post-norm (OLMo2, Gemma2):
    the RMSNorm with its per-position scale s(o) frozen, g ⊙ c_h · s, g ⊙ b · s and norm(o).
    """
    out = attn_output.float()
    bias_pos = None if bias is None else bias.float().expand_as(out)
    if layer.post_norm is not None:
        gain, eps = _rms_gain_eps(layer.post_norm)
        scale = torch.rsqrt(out.pow(2).mean(-1, keepdim=True) + eps)  # [pos, 1]
        contrib = contrib * scale * gain
        bias_pos = None if bias_pos is None else bias_pos * scale * gain
        out = out * scale * gain
    if layer.residual_scale != 1.0:
        contrib = contrib * layer.residual_scale
        bias_pos = None if bias_pos is None else bias_pos * layer.residual_scale
        out = out * layer.residual_scale
    return contrib, bias_pos, out


@dataclass
class HeadStats:
    """Per-head contribution statistics of one layer (what enters the residual stream)."""

    norm: torch.Tensor  # [head, pos] ‖c_h‖
    cosine: torch.Tensor  # [head, pos] cos(c_h, o)
    additive: torch.Tensor  # [head, pos] ⟨c_h, o⟩ / ‖o‖²
    bias_additive: torch.Tensor  # [pos] ⟨b, o⟩ / ‖o‖² (0 without a bias)
    out_norm: torch.Tensor  # [pos] ‖o‖
    max_error: float  # max |Σ heads + bias − o|


@torch.no_grad()
def head_stats(
    layer: LayerHandles, head_input: torch.Tensor, attn_output: torch.Tensor
) -> HeadStats:
    """Return norms, cosines, additive shares and the decomposition error of one layer.

    Everything is measured on what enters the residual stream (`residual_entry`).
    """
    raw = head_contributions(layer, head_input).float()  # [head, pos, d_model]
    contrib, bias, out = residual_entry(layer, raw, out_proj_bias(layer), attn_output)
    total = contrib.sum(0) if bias is None else contrib.sum(0) + bias
    error = (total - out).abs().max().item() if out.numel() else 0.0
    cosine = torch.nn.functional.cosine_similarity(contrib, out[None], dim=-1, eps=1e-12)
    out_sq = out.pow(2).sum(-1)  # [pos]
    safe = out_sq.clamp_min(1e-30)
    additive = (contrib * out[None]).sum(-1) / safe  # [head, pos]
    bias_additive = (
        torch.zeros_like(out_sq) if bias is None else (bias * out).sum(-1) / safe
    )  # [pos]
    return HeadStats(contrib.norm(dim=-1), cosine, additive, bias_additive, out.norm(dim=-1), error)


def attention_entropy(attn: torch.Tensor) -> torch.Tensor:
    """Return the entropy in nats of every attention row: [..., q, k] -> [..., q]."""
    a = attn.float()
    return -(torch.xlogy(a, a)).sum(-1)


@torch.no_grad()
def logit_lens(
    arch: Architecture, residual: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return top-k (ids, probs) [pos, k] of the model's logits for one layer's residual.

    The logits are the family's own: lm_head(final_norm(residual)), then Granite's
    scaling or Gemma2's soft-capping (`Architecture.logits`).
    """
    logits = arch.logits(arch.final_norm(residual))
    probs = torch.softmax(logits, dim=-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return top.indices, top.values


@torch.no_grad()
def iterative_logit_lens(
    arch: Architecture, residual: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return k (ids, probs) [pos, k]: decode, remove the winner's unembedding direction, repeat.

    The projection acts on the normalised residual, the input of the (linear) LM head,
    so removing direction u changes the raw logits exactly by its component along u; the
    family's logit transform is applied after. Step j's probability is the winner's
    probability under the j-th re-decoded distribution, not under the original one.
    """
    hidden = arch.final_norm(residual).float()  # [pos, d_model]
    w_u = arch.lm_head.weight.float()  # [vocab, d_model]
    bias = getattr(arch.lm_head, "bias", None)
    ids, probs = [], []
    for _ in range(k):
        logits = hidden @ w_u.T
        if bias is not None:
            logits = logits + bias.float()
        p = torch.softmax(arch.transform_logits(logits), dim=-1)
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
        "logit_divisor": arch.logit_divisor,
        "logit_softcap": -1.0 if arch.logit_softcap is None else arch.logit_softcap,
        "residual_entry": _residual_entry_name(arch),
    }


def _residual_entry_name(arch: Architecture) -> str:
    layer = arch.layers[0] if arch.layers else None
    if layer is not None and layer.post_norm is not None:
        return "post_attention_norm_frozen_scale"
    if layer is not None and layer.residual_scale != 1.0:
        return f"residual_multiplier*{layer.residual_scale:g}"
    return "attention_output"


def context_length(model: nn.Module) -> int:
    """Return the model's maximum number of positions."""
    cfg = model.config
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(cfg, key, None)
        if value:
            return int(value)
    raise ValueError("model config names no context length (max_position_embeddings)")

"""A Llama decoder with a small causal byte decoder beside it and token→byte cross-attention.

The main branch is a stock `LlamaModel` (the other arms' decoder). The byte branch runs
over the UTF-8 bytes of the same text (BOS byte first, then each token's bytes, read from
the `token_bytes` table), with sliding-window causal self-attention. Main layer l in
`config.cross_layers` first adds `gate_l · CrossAttn(RMSNorm(h), byte_states)`, where
token t sees byte j only if j < end(t) (and j ≥ end(t) − w with a cross window w; the
BOS byte always), so logits at t never depend on bytes after token t. The design follows
the local encoder of the Byte Latent Transformer (Pagnoni et al. 2024).

This file imports only torch, transformers and its configuration: `save_pretrained`
copies both next to the weights (auto_map), so a folder loads with trust_remote_code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, LlamaModel, PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import CausalLMOutputWithCrossAttentions

from .configuration_byte_branch import ByteBranchConfig

BOS_BYTE = 256
PAD_BYTE = 257
N_BYTE_IDS = 258


class ByteRMSNorm(nn.Module):
    """RMSNorm (fp32 statistics) for the byte branch and the cross-attention inputs."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_tables(n: int, hd: int, theta: float, device, dtype):
    """Return (cos, sin) [N, 1, 1, hd] for rotate-half RoPE over byte positions 0..n-1."""
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd)
    ang = torch.outer(torch.arange(n, device=device, dtype=torch.float32), inv)  # (N, hd/2)
    ang = torch.cat((ang, ang), dim=-1)[:, None, None]  # (N, 1, 1, hd)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Apply RoPE to x [B, N, ..., hd] (positions along dim 1)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def sliding_window_attention(q, k, v, window: int | None) -> torch.Tensor:
    """Return causal attention [B, H, N, hd] where query i sees keys i-window < j <= i.

    With a window shorter than the sequence, queries are cut into blocks of `window` and
    each block attends to itself and the previous block under a band mask, so the cost is
    O(N · 2w) instead of O(N²); None (or a window ≥ N) is plain causal attention.
    """
    b, h, n, hd = q.shape
    if window is None or window >= n:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    c = window
    nb = -(-n // c)
    pad = nb * c - n
    q = F.pad(q, (0, 0, 0, pad)).reshape(b * h, nb, c, hd)
    k, v = (F.pad(t, (0, 0, c, pad)) for t in (k, v))  # one empty block in front
    kb = torch.cat([k[:, :, : nb * c], k[:, :, c:]], dim=2)  # previous + own block
    vb = torch.cat([v[:, :, : nb * c], v[:, :, c:]], dim=2)
    kb = kb.reshape(b * h, 2, nb, c, hd).transpose(1, 2).reshape(b * h, nb, 2 * c, hd)
    vb = vb.reshape(b * h, 2, nb, c, hd).transpose(1, 2).reshape(b * h, nb, 2 * c, hd)
    qi = torch.arange(c, device=q.device)[:, None]
    kj = torch.arange(2 * c, device=q.device)[None, :]
    diff = c + qi - kj  # query position minus key position
    band = (diff >= 0) & (diff < window)  # (c, 2c)
    first = kj >= c  # block 0 has no previous block
    mask = band.expand(nb, c, 2 * c).clone()
    mask[0] &= first
    out = F.scaled_dot_product_attention(q, kb, vb, attn_mask=mask)  # (B·H, nb, c, hd)
    return out.reshape(b, h, nb * c, hd)[:, :, :n]


class ByteBlock(nn.Module):
    """Pre-norm decoder block: sliding-window causal self-attention (RoPE) + SwiGLU MLP."""

    def __init__(self, config: ByteBranchConfig):
        super().__init__()
        d, self.n_heads = config.byte_d_model, config.byte_n_heads
        self.window = config.byte_window
        self.attn_norm = ByteRMSNorm(d, config.rms_norm_eps)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.mlp_norm = ByteRMSNorm(d, config.rms_norm_eps)
        self.gate_up = nn.Linear(d, 2 * config.byte_d_ff, bias=False)
        self.down = nn.Linear(config.byte_d_ff, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(self.attn_norm(x)).view(b, n, 3, self.n_heads, d // self.n_heads)
        q, k = _rotate(qkv[:, :, :2], cos, sin).permute(2, 0, 3, 1, 4)  # each (B, H, N, hd)
        v = qkv[:, :, 2].transpose(1, 2)  # (B, H, N, hd)
        a = sliding_window_attention(q, k, v, self.window)  # (B, H, N, hd)
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, n, d))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


class ByteDecoder(nn.Module):
    """The byte branch: byte embedding → ByteBlocks → RMSNorm; returns [B, N, d1] states."""

    def __init__(self, config: ByteBranchConfig):
        super().__init__()
        self.embed = nn.Embedding(N_BYTE_IDS, config.byte_d_model)
        self.layers = nn.ModuleList(ByteBlock(config) for _ in range(config.byte_n_layers))
        self.norm = ByteRMSNorm(config.byte_d_model, config.rms_norm_eps)
        self.head_dim = config.byte_d_model // config.byte_n_heads
        self.theta = config.byte_rope_theta

    def forward(self, byte_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(byte_ids)  # (B, N, d1)
        cos, sin = rope_tables(x.shape[1], self.head_dim, self.theta, x.device, x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


def cross_attention_dense(q, k, v, allowed, output_attentions: bool = False):
    """Return (out [B, H, T, hd], weights [B, H, T, N] or None) under a [B, T, N] bool mask."""
    if not output_attentions:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None]), None
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # (B, H, T, N)
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    weights = scores.softmax(-1, dtype=torch.float32).to(q.dtype)
    return weights @ v, weights


def cross_attention_banded(q, kv, ends, window: int, output_attentions: bool = False):
    """Return (out [B, T, H, hd], weights [B, H, T, N] or None) over each token's byte window.

    q [B, T, H, hd]; kv [B, N, 2, H, hd]. Token t reads the BOS byte and bytes
    max(1, end−w) .. end−1, gathered as w + 1 rows per token, so the cost is O(T·w).
    """
    b, t, h, hd = q.shape
    n = kv.shape[1]
    idx = ends[..., None] - window + torch.arange(window, device=q.device)  # (B, T, w)
    valid = idx >= 1  # position 0 (BOS) has its own slot
    idx = torch.cat([torch.zeros_like(idx[..., :1]), idx.clamp(min=0)], -1)  # (B, T, w+1)
    valid = torch.cat([torch.ones_like(valid[..., :1]), valid], -1)
    rows = (idx + n * torch.arange(b, device=q.device)[:, None, None]).view(-1)
    kvg = kv.reshape(b * n, 2, h, hd).index_select(0, rows).view(b, t, window + 1, 2, h, hd)
    k, v = kvg.unbind(3)  # each (B, T, w+1, H, hd)
    # Elementwise products beat batched matmuls for these tiny (w+1) × hd blocks.
    scores = (q[:, :, None] * k).sum(-1) / math.sqrt(hd)  # (B, T, w+1, H)
    scores = scores.masked_fill(~valid[..., None], float("-inf"))
    p = scores.softmax(2, dtype=torch.float32).to(q.dtype)
    out = (p[..., None] * v).sum(2)  # (B, T, H, hd)
    weights = None
    if output_attentions:
        weights = p.new_zeros(b, h, t, n)
        weights.scatter_add_(3, idx[:, None].expand(b, h, t, window + 1), p.permute(0, 3, 1, 2))
    return out, weights


# The banded path wins on a CPU when the window is a small part of the frame (measured:
# w = 8 of ~900 bytes 2× faster than dense SDPA, w = 32 slower); otherwise dense SDPA.
BANDED_MAX_FRACTION = 1 / 32


class TokenByteCrossAttention(nn.Module):
    """Gated cross-attention from token states [B, T, d2] to byte states [B, N, d1].

    Token t sees bytes j < end(t), and with a window w only j ≥ end(t) − w, plus the BOS
    byte (so no row is empty).
    """

    def __init__(self, config: ByteBranchConfig):
        super().__init__()
        d1, d2 = config.byte_d_model, config.hidden_size
        self.n_heads, self.window = config.cross_n_heads, config.cross_window_bytes
        self.norm = ByteRMSNorm(d2, config.rms_norm_eps)
        self.q_proj = nn.Linear(d2, d1, bias=False)
        self.kv_proj = nn.Linear(d1, 2 * d1, bias=False)
        self.o_proj = nn.Linear(d1, d2, bias=False)
        # A scalar residual gate: at 0 the layer adds exactly nothing (the plain model).
        self.gate = nn.Parameter(torch.full((1,), float(config.gate_init)))

    def forward(self, h, byte_states, token_byte_ends, output_attentions: bool = False):
        """Return (h + gate · attention output, weights [B, heads, T, N] or None)."""
        b, t, _ = h.shape
        n, d1 = byte_states.shape[1], byte_states.shape[2]
        hd, w = d1 // self.n_heads, self.window
        q = self.q_proj(self.norm(h)).view(b, t, self.n_heads, hd)  # (B, T, H, hd)
        kv = self.kv_proj(byte_states).view(b, n, 2, self.n_heads, hd)
        ends = token_byte_ends.to(h.device).long()  # (B, T)
        if w is not None and (w + 1) <= n * BANDED_MAX_FRACTION:
            out, weights = cross_attention_banded(q, kv, ends, w, output_attentions)
        else:
            j = torch.arange(n, device=h.device)
            allowed = j < ends[..., None]  # (B, T, N)
            if w is not None:
                allowed &= (j >= ends[..., None] - w) | (j == 0)
            k, v = kv.permute(2, 0, 3, 1, 4)  # each (B, H, N, hd)
            out, weights = cross_attention_dense(
                q.transpose(1, 2), k, v, allowed, output_attentions
            )
            out = out.transpose(1, 2)  # (B, T, H, hd)
        out = self.o_proj(out.reshape(b, t, d1))
        return h + self.gate.to(h.dtype) * out, weights


class ByteBranchForCausalLM(PreTrainedModel, GenerationMixin):
    """Llama causal LM whose chosen layers also read a small causal byte decoder."""

    config_class = ByteBranchConfig
    config: ByteBranchConfig
    base_model_prefix = "model"
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _no_split_modules = ["LlamaDecoderLayer", "ByteBlock"]
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_attention_backend = True

    def __init__(self, config: ByteBranchConfig):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.byte_branch = ByteDecoder(config)
        self.cross_attn = nn.ModuleList(
            TokenByteCrossAttention(config) for _ in config.cross_layers
        )
        table = torch.full((config.vocab_size, config.max_token_bytes), -1, dtype=torch.int16)
        self.register_buffer("token_bytes", table)  # [vocab, max_token_bytes], -1 padded
        self.register_buffer(
            "token_byte_lengths", torch.zeros(config.vocab_size, dtype=torch.int16)
        )
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, TokenByteCrossAttention):
            init.constant_(module.gate, float(self.config.gate_init))
        elif isinstance(module, ByteRMSNorm):
            init.ones_(module.weight)

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # no KV cache: every step recomputes the sequence

    @classmethod
    def from_llama(cls, llama_model, **byte_options) -> ByteBranchForCausalLM:
        """Return a byte-branch model whose main branch is a copy of a LlamaForCausalLM."""
        keep = {k: v for k, v in llama_model.config.to_dict().items() if k != "model_type"}
        for key in ("architectures", "transformers_version", "auto_map"):
            keep.pop(key, None)
        config = ByteBranchConfig(**{**keep, **byte_options})
        config._attn_implementation = llama_model.config._attn_implementation
        model = cls(config).to(llama_model.dtype)
        model.model.load_state_dict(llama_model.model.state_dict())
        if not config.tie_word_embeddings:
            model.lm_head.load_state_dict(llama_model.lm_head.state_dict())
        return model.to(llama_model.device)

    def set_token_bytes(self, table, lengths) -> None:
        """Store the token→bytes table [vocab, L] (-1 padded) and byte lengths [vocab]."""
        table = torch.as_tensor(table).to(torch.int16)
        lengths = torch.as_tensor(lengths).to(torch.int16)
        v = self.config.vocab_size
        if table.dim() != 2 or table.shape[0] != v or lengths.shape != (v,):
            raise ValueError(
                f"token byte table must be [{v}, L] with lengths [{v}], got "
                f"{tuple(table.shape)} and {tuple(lengths.shape)}"
            )
        if lengths.numel() and int(lengths.max()) > table.shape[1]:
            raise ValueError("token byte lengths exceed the table width")
        device = self.token_bytes.device
        self.token_bytes = table.to(device).contiguous()
        self.token_byte_lengths = lengths.to(device).contiguous()
        self.config.max_token_bytes = int(table.shape[1])

    def byte_inputs(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (byte_ids [B, n_bytes] long, token_byte_ends [B, T] long) from the table."""
        ids = input_ids.long()
        b, t = ids.shape
        lengths = self.token_byte_lengths[ids].long()  # (B, T)
        ends = 1 + lengths.cumsum(1)  # (B, T): exclusive end; byte 0 is BOS
        n_bytes = int(ends[:, -1].max()) if t else 1
        byte_ids = torch.full((b, n_bytes), PAD_BYTE, dtype=torch.long, device=ids.device)
        byte_ids[:, 0] = BOS_BYTE
        width = self.token_bytes.shape[1]
        offs = torch.arange(width, device=ids.device)
        keep = offs < lengths[..., None]  # (B, T, L)
        pos = (ends - lengths)[..., None] + offs  # (B, T, L)
        rows = torch.arange(b, device=ids.device)[:, None, None].expand_as(pos)
        byte_ids[rows[keep], pos[keep]] = self.token_bytes[ids].long()[keep]
        return byte_ids, ends

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        byte_ids: torch.LongTensor | None = None,
        token_byte_ends: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = True,
        position_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithCrossAttentions:
        """Return logits (and loss with labels); attentions need attn_implementation="eager"."""
        kwargs.pop("cache", None)
        kwargs.pop("past_key_values", None)
        kwargs.pop("output_hidden_states", None)
        if output_attentions is None:
            output_attentions = bool(getattr(self.config, "output_attentions", False))
        if (byte_ids is None) != (token_byte_ends is None):
            raise ValueError("pass byte_ids and token_byte_ends together, or neither")
        if byte_ids is None:
            byte_ids, token_byte_ends = self.byte_inputs(input_ids)
        byte_states = self.byte_branch(byte_ids.to(input_ids.device))  # (B, N, d1)

        # Mirrors LlamaModel.forward (no cache) with the cross-attention at layer inputs.
        lm = self.model
        h = lm.embed_tokens(input_ids)  # (B, T, d2)
        if position_ids is None:
            position_ids = torch.arange(h.shape[1], device=h.device).unsqueeze(0)
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=h,
            attention_mask=attention_mask,
            cache=None,
            position_ids=position_ids,
        )
        position_embeddings = lm.rotary_emb(h, position_ids=position_ids)
        self_attn, hooks = [], []
        if output_attentions:
            for layer in lm.layers[: self.config.num_hidden_layers]:
                hooks.append(
                    layer.self_attn.register_forward_hook(lambda m, a, o: self_attn.append(o[1]))
                )
        cross_at = {layer: i for i, layer in enumerate(self.config.cross_layers)}
        cross_weights = []
        try:
            for i, layer in enumerate(lm.layers[: self.config.num_hidden_layers]):
                if i in cross_at:
                    h, w = self.cross_attn[cross_at[i]](
                        h, byte_states, token_byte_ends, output_attentions
                    )
                    cross_weights.append(w)
                h = layer(
                    h,
                    attention_mask=causal_mask,
                    position_embeddings=position_embeddings,
                    position_ids=position_ids,
                    use_cache=False,
                    **kwargs,
                )
        finally:
            for hook in hooks:
                hook.remove()
        if output_attentions and any(a is None for a in self_attn):
            raise ValueError(
                "output_attentions needs attn_implementation='eager' "
                f"(model uses {self.config._attn_implementation!r})"
            )
        logits = self.lm_head(lm.norm(h))  # (B, T, vocab)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs
            )
        out = CausalLMOutputWithCrossAttentions(
            loss=loss,
            logits=logits,
            attentions=tuple(self_attn) if output_attentions else None,
            cross_attentions=tuple(cross_weights) if output_attentions else None,
        )
        return out if return_dict is not False else out.to_tuple()

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        """Return the full sequence every step (no KV cache) with mask-derived positions."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if attention_mask is not None:
            position_ids = attention_mask.long().cumsum(-1) - 1
            inputs["position_ids"] = position_ids.masked_fill(attention_mask == 0, 1)
        for key in ("output_attentions",):
            if key in kwargs:
                inputs[key] = kwargs[key]
        return inputs

"""Load an exported model folder (AutoModelForCausalLM + AutoTokenizer) for scoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tokattn.common.model_checks import check_finite_model

# Models that take no KV cache: every step recomputes the full sequence. The byte branch
# rebuilds its byte frame from the whole token sequence, so a cached prefix cannot be
# extended by a few tokens.
NO_KV_CACHE_MODEL_TYPES = frozenset({"tokattn_byte_branch"})


@dataclass
class ScoringModel:
    """A causal LM, its tokenizer, and the context window scoring may use."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    max_context_tokens: int
    bos_id: int | None
    path: str = ""

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Return token ids (no special tokens) and the UTF-8 byte span of each token."""
        from tokattn.tokenizing.tokenization import token_byte_spans_from_offsets

        enc = self.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False)
        spans = token_byte_spans_from_offsets(self.tokenizer, text, enc.tokens, enc.offsets)
        return list(enc.ids), spans

    def encode_ids(self, text: str) -> list[int]:
        """Return token ids of `text` without special tokens."""
        return list(self.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def kv_cache(self) -> bool:
        """Return whether the model keeps a KV cache (a byte-branch model recomputes)."""
        return getattr(self.model.config, "model_type", "") not in NO_KV_CACHE_MODEL_TYPES

    def with_bos(self, ids: list[int]) -> list[int]:
        """Return ids with the BOS token first (as training saw every document start)."""
        return [self.bos_id, *ids] if self.bos_id is not None else list(ids)


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for "auto" (CUDA when present), "cpu" or "cuda"."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Return the weights dtype: "auto" is bf16 on CUDA with bf16 support, else fp32."""
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_scoring_model(
    path: str | Path,
    device: str = "auto",
    dtype: str = "auto",
    max_context_tokens: int | None = None,
) -> ScoringModel:
    """Return the model and tokenizer of a `save_pretrained` folder, ready for scoring.

    The context window is the model's `max_position_embeddings`, or `max_context_tokens`
    when that is smaller (RoPE models run past their training length, but scores there
    would measure extrapolation, not the model).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import tokattn.training.byte_branch  # noqa: F401  (registers the byte-branch model class)

    path = Path(path)
    dev = resolve_device(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{path}: scoring needs a fast (tokenizers-backed) tokenizer")
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=resolve_dtype(dtype, dev))
    model.to(dev).eval()
    check_finite_model(model, path)
    window = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    if max_context_tokens:
        window = min(window, int(max_context_tokens))
    return ScoringModel(model, tokenizer, dev, window, tokenizer.bos_token_id, str(path))

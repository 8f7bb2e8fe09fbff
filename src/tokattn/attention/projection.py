"""Project token-level attention maps onto bytes, characters or words of the text.

Different tokenizers cut the same text into different tokens; their maps only become
comparable in a frame defined by the text itself. Every token carries its UTF-8 byte
span, and every unit (byte, character, word) is a byte range, so

- a key token's attention is split over the units its bytes overlap, in proportion to
  the overlap (a token inside one unit gives it all; a token spanning two words splits);
- a unit's query row is the mean of the rows of the query tokens that overlap it.

``P = Q @ A @ K`` with ``K`` [token, unit] (rows sum to 1) and ``Q`` [unit, token] (rows
sum to 1), so projected rows sum to 1 whenever token rows do. Tokens with an empty span
(BOS and other specials) belong to no unit: their attention mass is dropped and every
row is renormalised, i.e. the projected map is attention *within the text*. How much was
kept is not lost: ``project_maps(..., with_mass=True)`` also returns each unit row's
projected mass ``(Q A K) 1`` before renormalising (1 − the mass dropped on BOS), so a
head that puts 99 % on BOS shows mass 0.01 beside its renormalised row. A map of a byte
tokenizer projected onto bytes is the map itself.

Words are whitespace-delimited: each word unit is a run of non-space characters with the
whitespace before it (trailing whitespace joins the last word), so words partition the
text and no byte is left out. Scripts written without spaces form long "words".
"""

from __future__ import annotations

import re

import numpy as np

from tokattn.common.byte_spans import char_to_byte_offsets

UNITS = ("byte", "char", "word")
_WORD = re.compile(r"\s*\S+")


def unit_spans(text: str, unit: str) -> np.ndarray:
    """Return the byte spans [n_units, 2] of the bytes, characters or words of `text`."""
    n_bytes = len(text.encode("utf-8"))
    if unit == "byte":
        starts = np.arange(n_bytes)
        return np.stack([starts, starts + 1], axis=1)
    c2b = char_to_byte_offsets(text)
    if unit == "char":
        return np.stack([c2b[:-1], c2b[1:]], axis=1)
    if unit == "word":
        spans = [[c2b[m.start()], c2b[m.end()]] for m in _WORD.finditer(text)]
        if not spans:
            return np.array([[0, n_bytes]] if n_bytes else np.zeros((0, 2)), dtype=np.int64)
        spans[-1][1] = n_bytes  # trailing whitespace joins the last word
        return np.array(spans, dtype=np.int64)
    raise ValueError(f"unknown unit {unit!r} (choose from {', '.join(UNITS)})")


def projection_matrices(
    token_spans: np.ndarray, units: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (Q [unit, token], K [token, unit]) for byte spans of tokens and units."""
    ts = np.asarray(token_spans, dtype=np.int64).reshape(-1, 2)
    us = np.asarray(units, dtype=np.int64).reshape(-1, 2)
    overlap = np.minimum(ts[:, None, 1], us[None, :, 1]) - np.maximum(
        ts[:, None, 0], us[None, :, 0]
    )
    overlap = np.clip(overlap, 0, None).astype(np.float64)  # [token, unit] bytes in common
    length = overlap.sum(1, keepdims=True)
    key = np.divide(overlap, length, out=np.zeros_like(overlap), where=length > 0)
    member = (overlap > 0).astype(np.float64).T  # [unit, token]
    count = member.sum(1, keepdims=True)
    query = np.divide(member, count, out=np.zeros_like(member), where=count > 0)
    return query, key


def project_maps(
    maps: np.ndarray, token_spans: np.ndarray, units: np.ndarray, with_mass: bool = False
):
    """Return maps [..., q, k] over tokens projected to [..., unit, unit]; rows sum to 1.

    With `with_mass`, return (maps, mass [..., unit]): each unit row's mass before
    renormalising, i.e. the share of its queries' attention that landed on text keys.
    """
    query, key = projection_matrices(token_spans, units)
    out = query @ maps.astype(np.float64) @ key  # [..., unit, unit]
    total = out.sum(-1, keepdims=True)
    mass = total[..., 0].copy()
    n_units = out.shape[-1]
    # A row with no mass (a unit no token covers, or all mass on specials) falls back to
    # uniform attention over the units up to itself, so rows still sum to 1.
    causal = np.tril(np.ones((n_units, n_units)))
    fallback = causal / causal.sum(1, keepdims=True) if n_units else causal
    empty = total <= 0
    out = np.where(empty, np.broadcast_to(fallback, out.shape), out / np.where(empty, 1, total))
    return (out, mass) if with_mass else out


def project_record(
    record, unit: str = "word", layers: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (maps [layer, head, unit, unit] float32, unit byte spans) of an AttentionRecord."""
    units = unit_spans(record.text, unit)
    layers = range(record.n_layers) if layers is None else layers
    maps = np.stack(
        [project_maps(record.attention_maps(layer), record.byte_spans, units) for layer in layers]
    ).astype(np.float32)
    return maps, units

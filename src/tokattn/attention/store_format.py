"""The attention store's file format: constants, the per-probe record, filters and checksums.

docs/attention-store.md documents the layout; `SCHEMA_VERSION` changes with it. The
writer (store_writer.py) and the reader (store.py) share everything here, so the two
cannot disagree on a dataset name, a filter or a checksum.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tokattn.attention.lower_triangle import (
    packed_size,
    unpack_lower,
)

SCHEMA_VERSION = 3
# Version 2 added the optional cross-attention datasets of byte-branch models; a version-1
# file is a version-2 file without them. Version 3 added `head_additive` and
# `bias_additive`, measures the head statistics on what enters the residual stream
# (post-norm and Granite models) and applies each family's logit transform in the lens;
# a record read from a version 1 or 2 file derives the additive shares from the stored
# norms and cosines (`AttentionRecord.additive_shares`). All three are read.
READABLE_VERSIONS = (1, 2, 3)
PACKING = "lower_triangle_rows"
COMPRESSIONS = ("blosc2", "zstd", "lzf", "gzip", "none")
PROBE_GROUP = "probes"
PROBE_ARRAYS = (
    "token_ids",
    "byte_spans",
    "window_start",
    "entropy",
    "head_norm",
    "head_cosine",
    "attn_out_norm",
    "decomposition_error",
    "lens_ids",
    "lens_probs",
)
OPTIONAL_ARRAYS = (
    "head_additive",
    "bias_additive",
    "iter_lens_ids",
    "iter_lens_probs",
    "byte_ids",
    "token_byte_ends",
    "cross_layers",
)


ATTRS_CHECKSUM = "attrs_crc32"
METADATA_ROOM = 256 << 10  # bytes kept free for HDF5's metadata (headers, indexes, heaps)
# Not covered by ATTRS_CHECKSUM: the checksum itself, and `complete`, written after it.
UNCHECKED_ATTRS = frozenset({ATTRS_CHECKSUM, "complete"})


class AttentionStoreError(RuntimeError):
    """An attention store cannot be read: missing, truncated, half-written or wrong schema."""


# --------------------------------------------------------------------------- record


@dataclass
class AttentionRecord:
    """Everything the store holds for one probe text (shapes in the comments)."""

    probe_id: str
    text: str
    language: str
    domain: str
    kind: str
    meta: dict
    token_ids: np.ndarray  # [pos] int32
    token_strings: list[str]  # [pos]
    byte_spans: np.ndarray  # [pos, 2] int32, [start, end) in UTF-8 bytes; empty for specials
    window_start: np.ndarray  # [pos] int32, first key position the query's window saw
    attention: np.ndarray | None  # [layer, head, pos*(pos+1)/2] float16, packed lower triangle
    entropy: np.ndarray  # [layer, head, pos] float32, nats
    # Contributions are what each head adds to the residual stream (docs/attention-store.md).
    head_norm: np.ndarray  # [layer, head, pos] float32, L2 norm of the head's contribution
    head_cosine: np.ndarray  # [layer, head, pos] float32, cosine to the layer's attention output
    attn_out_norm: np.ndarray  # [layer, pos] float32, L2 norm of the layer's attention output
    decomposition_error: np.ndarray  # [layer] float32, max |Σ heads + bias − attention output|
    lens_ids: np.ndarray  # [layer, pos, k] int32, logit-lens top-k after each layer
    lens_probs: np.ndarray  # [layer, pos, k] float32
    iter_lens_ids: np.ndarray | None = None  # [layer, pos, k_iter] int32
    # [layer, pos, k_iter] float32: step j's winner under the j-th re-decoded distribution
    iter_lens_probs: np.ndarray | None = None
    # Schema 3 (None when read from older files; see additive_shares()):
    head_additive: np.ndarray | None = None  # [layer, head, pos] float32, ⟨c_h, o⟩ / ‖o‖²
    bias_additive: np.ndarray | None = None  # [layer, pos] float32, ⟨b, o⟩ / ‖o‖²
    # Byte-branch models only (None for plain decoders):
    byte_ids: np.ndarray | None = None  # [byte_pos] int16, byte frame: BOS byte 256 first
    token_byte_ends: np.ndarray | None = None  # [pos] int32, exclusive end of each token's bytes
    cross_layers: np.ndarray | None = None  # [n_cross] int32, main layers with cross-attention
    # [n_cross, cross_head, pos, byte_pos] float16, dense; 0 where a token may not look
    cross_attention: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)  # anything else the probe group carries

    @property
    def n_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.entropy.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.entropy.shape[1])

    def additive_shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (heads [layer, head, pos], bias [layer, pos]): ⟨c_h, o⟩/‖o‖² and ⟨b, o⟩/‖o‖².

        They sum to 1 over heads and bias. Files older than schema 3 do not store them:
        the heads' shares are then ‖c_h‖ cos(c_h, o) / ‖o‖ and the bias takes the rest.
        """
        if self.head_additive is not None and self.bias_additive is not None:
            return self.head_additive, self.bias_additive
        out_norm = self.attn_out_norm[:, None, :].astype(np.float64)
        heads = np.divide(
            self.head_norm * self.head_cosine.astype(np.float64),
            out_norm,
            out=np.zeros(self.head_norm.shape),
            where=out_norm > 0,
        )
        return heads.astype(np.float32), (1.0 - heads.sum(1)).astype(np.float32)

    def attention_map(self, layer: int, head: int) -> np.ndarray:
        """Return one dense map [query, key] as float32."""
        if self.attention is None:
            raise ValueError(f"probe {self.probe_id}: record was read without attention")
        return unpack_lower(self.attention[layer, head], self.n_tokens)

    @property
    def has_cross_attention(self) -> bool:
        """Return whether the record comes from a byte-branch model (cross-attention maps)."""
        return self.cross_layers is not None

    def cross_attention_map(self, i: int, head: int) -> np.ndarray:
        """Return cross-attention map `i` (of `cross_layers[i]`) [token, byte] as float32."""
        if self.cross_attention is None:
            raise ValueError(f"probe {self.probe_id}: record holds no cross-attention")
        return self.cross_attention[i, head].astype(np.float32)

    def attention_maps(self, layer: int | None = None) -> np.ndarray:
        """Return dense maps [layer, head, q, k] (or [head, q, k] for one layer) as float32."""
        if self.attention is None:
            raise ValueError(f"probe {self.probe_id}: record was read without attention")
        packed = self.attention if layer is None else self.attention[layer]
        return unpack_lower(packed, self.n_tokens)


# --------------------------------------------------------------------------- writing


def compression_options(name: str, level: int | None = None) -> dict:
    """Return h5py `create_dataset` keyword arguments for a compression name."""
    if name == "blosc2":
        import hdf5plugin

        # Byte shuffle groups the float16 exponent bytes, which is what compresses.
        return dict(
            hdf5plugin.Blosc2(
                cname="zstd",
                clevel=1 if level is None else level,
                filters=hdf5plugin.Blosc2.SHUFFLE,
            )
        )
    if name == "zstd":
        import hdf5plugin

        return dict(hdf5plugin.Zstd(clevel=1 if level is None else level))
    if name == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if name == "gzip":
        return {
            "compression": "gzip",
            "compression_opts": 4 if level is None else level,
            "shuffle": True,
        }
    if name == "none":
        return {}
    raise ValueError(f"unknown compression {name!r} (choose from {', '.join(COMPRESSIONS)})")


def dataset_options(name: str, level: int | None = None) -> dict:
    """Return `create_dataset` keyword arguments of every store dataset: filter + checksum.

    Fletcher32 runs after compression, so each chunk's stored bytes carry a checksum
    that HDF5 verifies before decompressing; a flipped byte raises instead of reading
    back different numbers. The filter is part of the file: any h5py reads it.
    """
    return {**compression_options(name, level), "fletcher32": True}


def attrs_checksum(attrs: Mapping, strings: list | None = None) -> int:
    """Return the CRC-32 of the text attributes and `strings` of a group.

    HDF5 keeps variable-length strings (text attributes, token strings, probe ids) in its
    global heap, which has no checksum, and refuses filters on them; numbers sit in
    object headers, which HDF5 checksums itself (file format of libver v110). This
    CRC, stored as an integer attribute, covers the strings.
    """
    items = sorted(
        (k, decode_attr(v))
        for k, v in attrs.items()
        if k not in UNCHECKED_ATTRS and isinstance(decode_attr(v), str)
    )
    blob = json.dumps([items, [decode_attr(s) for s in strings or []]])
    return zlib.crc32(blob.encode("utf-8", "surrogatepass"))


def attr_value(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)  # str subclasses (torch's TorchVersion) have no HDF5 type
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def decode_attr(value):
    if isinstance(value, np.generic):
        value = value.item()
    return value.decode("utf-8") if isinstance(value, bytes) else value


def verify_checksum(attrs, strings: list) -> None:
    """Raise ValueError when `attrs` carry ATTRS_CHECKSUM and it does not match (older files do not)."""
    if ATTRS_CHECKSUM in attrs:
        stored = int(attrs[ATTRS_CHECKSUM])
        if stored != attrs_checksum(attrs, strings):
            raise ValueError(f"{ATTRS_CHECKSUM} mismatch: attributes or strings changed on disk")


def check_shapes(rec: AttentionRecord, n_tokens) -> None:
    """Raise ValueError naming the first array whose shape disagrees with the token count."""
    n, n_layers, n_heads = rec.n_tokens, rec.n_layers, rec.n_heads
    want = {
        "token_strings": (n,),
        "byte_spans": (n, 2),
        "window_start": (n,),
        "head_norm": (n_layers, n_heads, n),
        "head_cosine": (n_layers, n_heads, n),
        "attn_out_norm": (n_layers, n),
        "decomposition_error": (n_layers,),
    }
    if rec.attention is not None:
        want["attention"] = (n_layers, n_heads, packed_size(n))
    if n_tokens is not None and int(n_tokens) != n:
        raise ValueError(f"token_ids holds {n} tokens, the n_tokens attribute says {n_tokens}")
    for name, shape in want.items():
        value = getattr(rec, name)
        got = (len(value),) if isinstance(value, list) else tuple(value.shape)
        if got != shape:
            raise ValueError(f"{name} has shape {got}, expected {shape}")
    for name in ("lens_ids", "lens_probs"):
        if getattr(rec, name).shape[:2] != (n_layers, n):
            raise ValueError(f"{name} has shape {getattr(rec, name).shape}")

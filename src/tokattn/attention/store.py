"""HDF5 attention store: one file per model and seed, one group per probe text.

The layout is documented in docs/attention-store.md; `SCHEMA_VERSION` changes with it.
Writers go through `AttentionStoreWriter` (temp file, `complete` attribute written
last, then an atomic rename); readers go through `AttentionStore`, which refuses a
file that is truncated, half-written or of another schema version, and returns one
`AttentionRecord` per probe. The analyses and the viewer read nothing else.

CLI::

    tokattn store list FILE
    tokattn store show FILE PROBE LAYER HEAD
    tokattn store show FILE PROBE LAYER HEAD --cross
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from tokattn.attention.lower_triangle import (  # noqa: F401  (re-exported: part of the store's API)
    n_tokens_of,
    pack_lower,
    packed_size,
    row_offsets,
    unpack_lower,
)
from tokattn.common.atomic_files import is_disk_full, remove_stale_temps, write_failure

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
_PROBE_ARRAYS = (
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
_OPTIONAL_ARRAYS = (
    "head_additive",
    "bias_additive",
    "iter_lens_ids",
    "iter_lens_probs",
    "byte_ids",
    "token_byte_ends",
    "cross_layers",
)


ATTRS_CHECKSUM = "attrs_crc32"
_METADATA_ROOM = 256 << 10  # bytes kept free for HDF5's metadata (headers, indexes, heaps)
# Not covered by ATTRS_CHECKSUM: the checksum itself, and `complete`, written after it.
_UNCHECKED_ATTRS = frozenset({ATTRS_CHECKSUM, "complete"})


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
        (k, _decode(v))
        for k, v in attrs.items()
        if k not in _UNCHECKED_ATTRS and isinstance(_decode(v), str)
    )
    blob = json.dumps([items, [_decode(s) for s in strings or []]])
    return zlib.crc32(blob.encode("utf-8", "surrogatepass"))


def _attr_value(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)  # str subclasses (torch's TorchVersion) have no HDF5 type
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return value


class AttentionStoreWriter:
    """Stream probes into a new store; the final path appears only when `close()` succeeds.

    Use as a context manager: on an exception the temporary file is removed and nothing
    is left at `path`.
    """

    def __init__(
        self,
        path: str | Path,
        attrs: Mapping,
        compression: str = "blosc2",
        compression_level: int | None = None,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        remove_stale_temps(self.path)
        self._filter = dataset_options(compression, compression_level)
        self._file = None
        self._ids: list[str] = []
        self._open: list = []  # HDF5 objects of the probe being written
        self._max_error = 0.0
        try:
            self._create(compression, compression_level, attrs)
        except Exception as exc:
            if isinstance(exc, OSError) or is_disk_full(exc):
                raise self._failed(exc) from exc
            raise

    def _create(self, compression: str, compression_level: int | None, attrs: Mapping) -> None:
        """Open the temp file and write the root attributes."""
        self._file = h5py.File(self.tmp_path, "w", libver=("v110", "latest"))
        self._file.attrs["schema_version"] = SCHEMA_VERSION
        self._file.attrs["complete"] = False
        self._file.attrs["packing"] = PACKING
        self._file.attrs["compression"] = compression
        self._file.attrs["compression_level"] = (
            -1 if compression_level is None else compression_level
        )
        for key, value in attrs.items():
            self._file.attrs[key] = _attr_value(value)
        self._probes = self._file.create_group(PROBE_GROUP)

    def write(self, record: AttentionRecord) -> None:
        """Write one probe; its attention is chunked so one (layer, head) map reads alone."""
        try:
            self._write(record)
        except Exception as exc:
            if isinstance(exc, OSError) or is_disk_full(exc):
                raise self._failed(exc) from exc
            raise

    def _write(self, record: AttentionRecord) -> None:
        if "/" in record.probe_id or record.probe_id in self._probes:
            raise ValueError(f"probe id {record.probe_id!r} contains '/' or is a duplicate")
        if record.attention is None:
            raise ValueError(f"probe {record.probe_id}: no attention to write")
        if "\x00" in record.text or any("\x00" in t for t in record.token_strings):
            # HDF5 strings end at NUL; the corpus stage removes NUL characters.
            raise ValueError(f"probe {record.probe_id}: text or token strings contain NUL")
        arrays = [getattr(record, n) for n in (*_PROBE_ARRAYS, *_OPTIONAL_ARRAYS)]
        arrays += [record.attention, record.cross_attention]
        strings = [record.text, *record.token_strings, json.dumps(record.meta)]
        self._check_room(
            sum(a.nbytes for a in arrays if a is not None)
            + sum(len(t.encode("utf-8", "surrogatepass")) + 16 for t in strings)
        )
        g = self._probes.create_group(record.probe_id)
        self._open.append(g)
        for key, value in {
            "id": record.probe_id,
            "text": record.text,
            "language": record.language,
            "domain": record.domain,
            "kind": record.kind,
            "meta": record.meta,
            "n_tokens": record.n_tokens,
            **record.attrs,
        }.items():
            g.attrs[key] = _attr_value(value)
        n_layers, n_heads, n_packed = record.attention.shape
        self._dataset(
            g, "attention", data=record.attention, chunks=(1, 1, max(n_packed, 1)), **self._filter
        )
        self._dataset(
            g,
            "token_strings",
            data=np.array(record.token_strings, dtype=object),
            dtype=h5py.string_dtype("utf-8"),
        )
        for name in _PROBE_ARRAYS + _OPTIONAL_ARRAYS:
            value = getattr(record, name)
            if value is not None:
                self._dataset(g, name, data=value, **self._filter)
        if record.cross_attention is not None:
            cross = np.asarray(record.cross_attention, np.float16)
            # One (cross layer, head) map per chunk, as for the self-attention maps.
            chunks = (1, 1, max(cross.shape[2], 1), max(cross.shape[3], 1))
            self._dataset(g, "cross_attention", data=cross, chunks=chunks, **self._filter)
        g.attrs[ATTRS_CHECKSUM] = attrs_checksum(g.attrs, record.token_strings)
        # Flush while the probe's objects are still open: HDF5 writes cached chunks when a
        # dataset closes, and a failure there (disk full) is only printed by h5py and later
        # crashed the process; a failed flush raises here instead.
        self._file.flush()
        self._open.clear()
        self._ids.append(record.probe_id)
        if record.decomposition_error.size:
            self._max_error = max(self._max_error, float(np.max(record.decomposition_error)))

    def _check_room(self, n_bytes: int) -> None:
        """Raise ENOSPC before writing when the disk cannot take `n_bytes` more (uncompressed).

        HDF5 handles a failed write badly (h5py prints it from a destructor, and the
        process could crash later), so a full disk is caught before HDF5 meets it; the
        bound is the uncompressed size plus room for HDF5's metadata.
        """
        need = n_bytes + _METADATA_ROOM
        free = shutil.disk_usage(self.tmp_path.parent).free
        if free < need:
            raise OSError(errno.ENOSPC, f"No space left: up to {need} bytes needed next")

    def _dataset(self, group: h5py.Group, name: str, **kwargs) -> h5py.Dataset:
        """Create one dataset and keep it open until the probe is flushed."""
        dset = group.create_dataset(name, **kwargs)
        self._open.append(dset)
        return dset

    def close(self) -> Path:
        """Mark the file complete, close it and rename it into place; return the final path."""
        try:
            return self._close()
        except Exception as exc:
            if isinstance(exc, OSError) or is_disk_full(exc):
                raise self._failed(exc) from exc
            raise

    def _close(self) -> Path:
        f = self._file
        self._check_room(sum(len(i.encode("utf-8", "surrogatepass")) + 16 for i in self._ids))
        f.create_dataset(
            "probe_ids",
            data=np.array(self._ids, dtype=object),
            dtype=h5py.string_dtype("utf-8"),
        )
        f.attrs["n_probes"] = len(self._ids)
        f.attrs["max_decomposition_error"] = self._max_error
        f.attrs[ATTRS_CHECKSUM] = attrs_checksum(f.attrs, self._ids)
        f.attrs["complete"] = True  # last: a reader refuses any file without it
        f.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (safe to call twice)."""
        # Truncate first: closing flushes HDF5's metadata, and on a full disk that flush
        # failed again and crashed the process (SIGSEGV) with the temp file left behind.
        with contextlib.suppress(OSError):
            os.truncate(self.tmp_path, 0)
        self._open.clear()
        try:
            with contextlib.suppress(Exception):  # the file is deleted anyway
                if self._file is not None:
                    self._file.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)

    def _failed(self, exc: Exception) -> OSError:
        """Abort, and return the error to raise for a failed write (disk full named as such)."""
        self.abort()
        return write_failure(exc, self.path, [self.tmp_path])

    def __enter__(self) -> AttentionStoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------- reading


def _decode(value):
    if isinstance(value, np.generic):
        value = value.item()
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _verify_checksum(attrs, strings: list) -> None:
    """Raise ValueError when `attrs` carry ATTRS_CHECKSUM and it does not match (older files do not)."""
    if ATTRS_CHECKSUM in attrs:
        stored = int(attrs[ATTRS_CHECKSUM])
        if stored != attrs_checksum(attrs, strings):
            raise ValueError(f"{ATTRS_CHECKSUM} mismatch: attributes or strings changed on disk")


def _check_shapes(rec: AttentionRecord, n_tokens) -> None:
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


class AttentionStore:
    """Read-only view of a complete store; `record(probe_id)` returns an AttentionRecord."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise AttentionStoreError(f"{self.path}: no such attention store")
        with contextlib.suppress(ImportError):  # lzf/gzip stores read without it
            import hdf5plugin  # noqa: F401  (registers the Blosc2/Zstd filters)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise AttentionStoreError(
                f"{self.path}: not a readable HDF5 file — truncated, or still being written? ({exc})"
            ) from exc
        try:
            self._open_checked()
        except AttentionStoreError:
            self._file.close()
            raise
        except Exception as exc:  # h5py raises OSError, KeyError, ValueError, ... on damage
            self._file.close()
            raise AttentionStoreError(
                f"{self.path}: damaged attention store (root attributes or probe_ids: {exc})"
            ) from exc

    def _open_checked(self) -> None:
        attrs = self._file.attrs
        if not bool(attrs.get("complete", False)):
            raise AttentionStoreError(
                f"{self.path}: incomplete attention store (the writer did not finish; "
                "delete it and rerun the dump)"
            )
        version = int(attrs.get("schema_version", -1))
        if version not in READABLE_VERSIONS:
            raise AttentionStoreError(
                f"{self.path}: schema version {version}, this reader understands "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        self.attrs = {k: _decode(v) for k, v in attrs.items()}
        self.probe_ids = [_decode(p) for p in self._file["probe_ids"][()]]
        _verify_checksum(attrs, self.probe_ids)
        self._id_set = frozenset(self.probe_ids)
        self._datasets: dict[str, h5py.Dataset] = {}

    def __len__(self) -> int:
        return len(self.probe_ids)

    def __contains__(self, probe_id: str) -> bool:
        return probe_id in self._id_set

    def __iter__(self) -> Iterator[AttentionRecord]:
        for probe_id in self.probe_ids:
            yield self.record(probe_id)

    def _group(self, probe_id: str) -> h5py.Group:
        if probe_id not in self._id_set:
            raise KeyError(f"{self.path}: no probe {probe_id!r}")
        return self._file[PROBE_GROUP][probe_id]

    def record(self, probe_id: str, attention: bool = True) -> AttentionRecord:
        """Return the AttentionRecord of one probe (attention=False skips all maps).

        Any failure to read it (a damaged chunk, checksum, attribute or shape) raises
        AttentionStoreError naming the file, the probe and the dataset.
        """
        if probe_id not in self._id_set:
            raise KeyError(f"{self.path}: no probe {probe_id!r}")
        name = "group"
        try:
            g = self._group(probe_id)
            name = "attributes"
            a = {k: _decode(v) for k, v in g.attrs.items()}
            arrays = {}
            for name in _PROBE_ARRAYS + _OPTIONAL_ARRAYS:
                arrays[name] = g[name][()] if name in g else None
            name = "token_strings"
            strings = [_decode(s) for s in g[name][()]]
            name = "attributes"
            _verify_checksum(g.attrs, strings)
            name = "attention"
            packed = g[name][()] if attention else None
            name = "cross_attention"
            cross = g[name][()] if attention and name in g else None
            name = "attributes"
            known = {"id", "text", "language", "domain", "kind", "meta", "n_tokens"}
            rec = AttentionRecord(
                probe_id=probe_id,
                text=a["text"],
                language=a["language"],
                domain=a["domain"],
                kind=a["kind"],
                meta=json.loads(a["meta"]) if a.get("meta") else {},
                token_strings=strings,
                attention=packed,
                cross_attention=cross,
                attrs={k: v for k, v in a.items() if k not in known | _UNCHECKED_ATTRS},
                **arrays,
            )
            name = "shapes"
            _check_shapes(rec, a.get("n_tokens"))
        except Exception as exc:  # h5py raises OSError, KeyError, ValueError, ... on damage
            raise AttentionStoreError(
                f"{self.path}: probe {probe_id!r}: dataset {name!r} unreadable or damaged ({exc})"
            ) from exc
        return rec

    def attention_map(self, probe_id: str, layer: int, head: int) -> np.ndarray:
        """Return one dense map [query, key] as float32, reading only its own chunk."""
        try:
            dset = self._datasets.get(probe_id)
            if dset is None:
                if len(self._datasets) >= 256:  # keep open handles bounded
                    self._datasets.clear()
                dset = self._datasets[probe_id] = self._group(probe_id)["attention"]
            packed = dset[layer, head]
            return unpack_lower(packed, n_tokens_of(packed.shape[-1]))
        except (KeyError, IndexError):
            raise
        except Exception as exc:  # h5py raises OSError, ValueError, ... on damage
            raise AttentionStoreError(
                f"{self.path}: probe {probe_id!r}: dataset 'attention' layer {layer} head {head}: "
                f"unreadable or damaged ({exc})"
            ) from exc

    def cross_attention_map(self, probe_id: str, i: int, head: int) -> np.ndarray:
        """Return cross-attention map `i` [token, byte] as float32, reading only its chunk."""
        try:
            g = self._group(probe_id)
            if "cross_attention" not in g:
                raise ValueError(f"{self.path}: probe {probe_id} holds no cross-attention")
            return g["cross_attention"][i, head].astype(np.float32)
        except (KeyError, IndexError, ValueError):
            raise
        except Exception as exc:  # h5py raises OSError, ... on damage
            raise AttentionStoreError(
                f"{self.path}: probe {probe_id!r}: dataset 'cross_attention' map {i} head "
                f"{head}: unreadable or damaged ({exc})"
            ) from exc

    def close(self) -> None:
        self._datasets.clear()
        self._file.close()

    def __enter__(self) -> AttentionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

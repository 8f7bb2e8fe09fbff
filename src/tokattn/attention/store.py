"""HDF5 attention store: one file per model and seed, one group per probe text.

The layout is documented in docs/attention-store.md and fixed in store_format.py.
Writers go through `AttentionStoreWriter` (store_writer.py; temp file, `complete` attribute written
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
import json
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from tokattn.attention.lower_triangle import (
    n_tokens_of,
    unpack_lower,
)
from tokattn.attention.store_format import (
    OPTIONAL_ARRAYS,
    PROBE_ARRAYS,
    PROBE_GROUP,
    READABLE_VERSIONS,
    UNCHECKED_ATTRS,
    AttentionRecord,
    AttentionStoreError,
    check_shapes,
    decode_attr,
    verify_checksum,
)


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
        self.attrs = {k: decode_attr(v) for k, v in attrs.items()}
        self.probe_ids = [decode_attr(p) for p in self._file["probe_ids"][()]]
        verify_checksum(attrs, self.probe_ids)
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
            a = {k: decode_attr(v) for k, v in g.attrs.items()}
            arrays = {}
            for name in PROBE_ARRAYS + OPTIONAL_ARRAYS:
                arrays[name] = g[name][()] if name in g else None
            name = "token_strings"
            strings = [decode_attr(s) for s in g[name][()]]
            name = "attributes"
            verify_checksum(g.attrs, strings)
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
                attrs={k: v for k, v in a.items() if k not in known | UNCHECKED_ATTRS},
                **arrays,
            )
            name = "shapes"
            check_shapes(rec, a.get("n_tokens"))
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

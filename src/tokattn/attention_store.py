"""HDF5 attention store: one file per model and seed, one group per probe text.

The layout is documented in docs/attention-store.md; `SCHEMA_VERSION` changes with it.
Writers go through `AttentionStoreWriter` (temp file, `complete` attribute written
last, then an atomic rename); readers go through `AttentionStore`, which refuses a
file that is truncated, half-written or of another schema version, and returns one
`AttentionRecord` per probe. The analyses and the viewer read nothing else.

CLI::

    python -m tokattn.attention_store list FILE
    python -m tokattn.attention_store show FILE PROBE LAYER HEAD
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from tokattn.lower_triangle import (  # noqa: F401  (re-exported: part of the store's API)
    n_tokens_of,
    pack_lower,
    packed_size,
    row_offsets,
    unpack_lower,
)

SCHEMA_VERSION = 1
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
_OPTIONAL_ARRAYS = ("iter_lens_ids", "iter_lens_probs")


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
    head_norm: np.ndarray  # [layer, head, pos] float32, L2 norm of the head's contribution
    head_cosine: np.ndarray  # [layer, head, pos] float32, cosine to the layer's attention output
    attn_out_norm: np.ndarray  # [layer, pos] float32, L2 norm of the layer's attention output
    decomposition_error: np.ndarray  # [layer] float32, max |Σ heads + bias − attention output|
    lens_ids: np.ndarray  # [layer, pos, k] int32, logit-lens top-k after each layer
    lens_probs: np.ndarray  # [layer, pos, k] float32
    iter_lens_ids: np.ndarray | None = None  # [layer, pos, k_iter] int32
    iter_lens_probs: np.ndarray | None = None  # [layer, pos, k_iter] float32
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

    def attention_map(self, layer: int, head: int) -> np.ndarray:
        """Return one dense map [query, key] as float32."""
        if self.attention is None:
            raise ValueError(f"probe {self.probe_id}: record was read without attention")
        return unpack_lower(self.attention[layer, head], self.n_tokens)

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
        self._filter = compression_options(compression, compression_level)
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
        self._ids: list[str] = []
        self._max_error = 0.0

    def write(self, record: AttentionRecord) -> None:
        """Write one probe; its attention is chunked so one (layer, head) map reads alone."""
        if "/" in record.probe_id or record.probe_id in self._probes:
            raise ValueError(f"probe id {record.probe_id!r} contains '/' or is a duplicate")
        if record.attention is None:
            raise ValueError(f"probe {record.probe_id}: no attention to write")
        g = self._probes.create_group(record.probe_id)
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
        g.create_dataset(
            "attention", data=record.attention, chunks=(1, 1, max(n_packed, 1)), **self._filter
        )
        g.create_dataset(
            "token_strings",
            data=np.array(record.token_strings, dtype=object),
            dtype=h5py.string_dtype("utf-8"),
        )
        for name in _PROBE_ARRAYS + _OPTIONAL_ARRAYS:
            value = getattr(record, name)
            if value is not None:
                g.create_dataset(name, data=value, **self._filter)
        self._ids.append(record.probe_id)
        if record.decomposition_error.size:
            self._max_error = max(self._max_error, float(np.max(record.decomposition_error)))

    def close(self) -> Path:
        """Mark the file complete, close it and rename it into place; return the final path."""
        f = self._file
        f.create_dataset(
            "probe_ids", data=np.array(self._ids, dtype=object), dtype=h5py.string_dtype("utf-8")
        )
        f.attrs["n_probes"] = len(self._ids)
        f.attrs["max_decomposition_error"] = self._max_error
        f.attrs["complete"] = True  # last: a reader refuses any file without it
        f.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file."""
        try:
            self._file.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)

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
        attrs = self._file.attrs
        if not bool(attrs.get("complete", False)):
            self._file.close()
            raise AttentionStoreError(
                f"{self.path}: incomplete attention store (the writer did not finish; "
                "delete it and rerun the dump)"
            )
        version = int(attrs.get("schema_version", -1))
        if version != SCHEMA_VERSION:
            self._file.close()
            raise AttentionStoreError(
                f"{self.path}: schema version {version}, this reader understands {SCHEMA_VERSION}"
            )
        try:
            self.attrs = {k: _decode(v) for k, v in attrs.items()}
            self.probe_ids = [_decode(p) for p in self._file["probe_ids"][()]]
            self._id_set = frozenset(self.probe_ids)
            self._datasets: dict[str, h5py.Dataset] = {}
        except (OSError, KeyError) as exc:
            self._file.close()
            raise AttentionStoreError(f"{self.path}: damaged attention store ({exc})") from exc

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
        """Return the AttentionRecord of one probe (attention=False skips the maps)."""
        try:
            g = self._group(probe_id)
            a = {k: _decode(v) for k, v in g.attrs.items()}
            arrays = {
                name: g[name][()] if name in g else None
                for name in _PROBE_ARRAYS + _OPTIONAL_ARRAYS
            }
            strings = [_decode(s) for s in g["token_strings"][()]]
            packed = g["attention"][()] if attention else None
        except OSError as exc:
            raise AttentionStoreError(f"{self.path}: probe {probe_id}: unreadable ({exc})") from exc
        known = {"id", "text", "language", "domain", "kind", "meta", "n_tokens"}
        return AttentionRecord(
            probe_id=probe_id,
            text=a["text"],
            language=a["language"],
            domain=a["domain"],
            kind=a["kind"],
            meta=json.loads(a["meta"]) if a.get("meta") else {},
            token_strings=strings,
            attention=packed,
            attrs={k: v for k, v in a.items() if k not in known},
            **arrays,
        )

    def attention_map(self, probe_id: str, layer: int, head: int) -> np.ndarray:
        """Return one dense map [query, key] as float32, reading only its own chunk."""
        try:
            dset = self._datasets.get(probe_id)
            if dset is None:
                if len(self._datasets) >= 256:  # keep open handles bounded
                    self._datasets.clear()
                dset = self._datasets[probe_id] = self._group(probe_id)["attention"]
            packed = dset[layer, head]
        except OSError as exc:
            raise AttentionStoreError(f"{self.path}: probe {probe_id}: unreadable ({exc})") from exc
        return unpack_lower(packed, n_tokens_of(packed.shape[-1]))

    def close(self) -> None:
        self._datasets.clear()
        self._file.close()

    def __enter__(self) -> AttentionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- CLI


def _cmd_list(store: AttentionStore) -> None:
    print(f"# {store.path}")
    for key in sorted(store.attrs):
        print(f"#   {key}: {store.attrs[key]}")
    print("probe\tkind\tlanguage\tdomain\tn_tokens\tn_bytes")
    for probe_id in store.probe_ids:
        g = store._group(probe_id)
        text = _decode(g.attrs["text"])
        print(
            f"{probe_id}\t{_decode(g.attrs['kind'])}\t{_decode(g.attrs['language'])}\t"
            f"{_decode(g.attrs['domain'])}\t{int(g.attrs['n_tokens'])}\t"
            f"{len(text.encode('utf-8'))}"
        )


def _cmd_show(store: AttentionStore, probe_id: str, layer: int, head: int, width: int) -> None:
    rec = store.record(probe_id, attention=False)
    if not (0 <= layer < rec.n_layers and 0 <= head < rec.n_heads):
        raise SystemExit(f"layer/head out of range: {rec.n_layers} layers, {rec.n_heads} heads")
    amap = store.attention_map(probe_id, layer, head)
    print(f"# {probe_id} layer {layer} head {head}: {rec.n_tokens} tokens; rows = queries")
    np.set_printoptions(linewidth=200, precision=3, suppress=True)
    labels = [repr(s)[1:-1][:width] for s in rec.token_strings]
    for q, label in enumerate(labels):
        row = " ".join(f"{v:.2f}" for v in amap[q, : q + 1])
        ent = rec.entropy[layer, head, q]
        print(f"{q:4d} {label:>{width}} H={ent:.2f} | {row}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tokattn.attention_store`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tokattn.attention_store", description="Inspect a tokattn attention store."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_list = sub.add_parser("list", help="print the root attributes and the probes")
    p_list.add_argument("file")
    p_show = sub.add_parser("show", help="print one attention map")
    p_show.add_argument("file")
    p_show.add_argument("probe")
    p_show.add_argument("layer", type=int)
    p_show.add_argument("head", type=int)
    p_show.add_argument("--width", type=int, default=12, help="token label width")
    args = parser.parse_args(argv)
    try:
        with AttentionStore(args.file) as store:
            if args.cmd == "list":
                _cmd_list(store)
            else:
                _cmd_show(store, args.probe, args.layer, args.head, args.width)
    except (AttentionStoreError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

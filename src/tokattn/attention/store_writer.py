"""Writing an attention store: `AttentionStoreWriter` streams probes into a temp file.

The final path appears only when `close()` succeeds: the `complete` attribute is written
last, then the file is renamed into place (store_format.py holds the layout).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from tokattn.attention.store_format import (
    ATTRS_CHECKSUM,
    METADATA_ROOM,
    OPTIONAL_ARRAYS,
    PACKING,
    PROBE_ARRAYS,
    PROBE_GROUP,
    SCHEMA_VERSION,
    AttentionRecord,
    attr_value,
    attrs_checksum,
    dataset_options,
)
from tokattn.common.atomic_files import is_disk_full, remove_stale_temps, write_failure


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
            self._file.attrs[key] = attr_value(value)
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
        arrays = [getattr(record, n) for n in (*PROBE_ARRAYS, *OPTIONAL_ARRAYS)]
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
            g.attrs[key] = attr_value(value)
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
        for name in PROBE_ARRAYS + OPTIONAL_ARRAYS:
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
        need = n_bytes + METADATA_ROOM
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

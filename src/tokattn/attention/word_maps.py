"""word_maps.h5: every probe's attention maps projected onto words, written and read lazily.

One group per probe under ``probes``: maps [layer, head, word, word] and each word row's
projected mass [layer, head, word]. The head analysis writes the file (`WordMapWriter`:
temp file, `complete` last, then rename); the run comparison and the report read it
(`WordMaps`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from tokattn.attention.store_format import AttentionStoreError, dataset_options
from tokattn.common.atomic_files import remove_stale_temps


class WordMapWriter:
    """Stream word-level maps into word_maps.h5 (temp file, `complete` last, then rename)."""

    def __init__(self, path: str | Path, attrs: Mapping):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        remove_stale_temps(self.path)
        self._file = h5py.File(self.tmp, "w")
        for k, v in attrs.items():
            self._file.attrs[k] = v
        self._file.attrs["unit"] = "word"
        self._file.attrs["complete"] = False
        self._group = self._file.create_group("probes")
        self._ids: list[str] = []

    def write(
        self,
        probe_id: str,
        maps: np.ndarray,
        units: np.ndarray,
        projected_mass: np.ndarray | None = None,
    ) -> None:
        """Write one probe's maps [layer, head, word, word], word byte spans [word, 2] and
        each row's projected mass [layer, head, word] (before renormalising)."""
        g = self._group.create_group(probe_id)
        chunks = (1, 1, *maps.shape[2:]) if maps.size else None
        g.create_dataset("maps", data=maps, chunks=chunks, **dataset_options("gzip", 4))
        g.create_dataset("unit_spans", data=units.astype(np.int32), fletcher32=True)
        if projected_mass is not None:
            g.create_dataset(
                "projected_mass",
                data=np.asarray(projected_mass, np.float32),
                **dataset_options("gzip", 4),
            )
        self._ids.append(probe_id)

    def __enter__(self) -> WordMapWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._file.create_dataset(
                    "probe_ids",
                    data=np.array(self._ids, dtype=object),
                    dtype=h5py.string_dtype("utf-8"),
                )
                self._file.attrs["complete"] = True
            self._file.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


class WordMaps:
    """Lazy reader of a word_maps.h5 file: `attrs`, `probe_ids`, `maps(probe_id)`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r")
        if not bool(self._file.attrs.get("complete", False)):
            self._file.close()
            raise ValueError(f"{path}: incomplete word-map file (rerun the analysis)")
        self.attrs = {
            k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._file.attrs.items()
        }
        self.probe_ids = [
            p.decode() if isinstance(p, bytes) else p for p in self._file["probe_ids"][()]
        ]

    def maps(self, probe_id: str) -> np.ndarray:
        """Return one probe's word maps [layer, head, word, word] as float32."""
        if probe_id not in self.probe_ids:
            raise KeyError(f"{self.path}: no probe {probe_id!r}")
        try:
            return self._file["probes"][probe_id]["maps"][()].astype(np.float32)
        except Exception as exc:  # h5py raises OSError (e.g. a Fletcher32 mismatch) on damage
            raise AttentionStoreError(
                f"{self.path}: probe {probe_id!r}: dataset 'maps' unreadable or damaged ({exc})"
            ) from exc

    def projected_mass(self, probe_id: str) -> np.ndarray | None:
        """Return each word row's projected mass [layer, head, word] (None in older files)."""
        g = self._file["probes"][probe_id]
        return g["projected_mass"][()].astype(np.float32) if "projected_mass" in g else None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> WordMaps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

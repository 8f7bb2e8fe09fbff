"""Corpus stage: read the configured sources, clean, de-duplicate, cap, split, write.

`build_corpus` streams documents source by source: normalise (NFC/NFKC), drop the
too short, drop exact duplicates (first occurrence in source order wins), apply the
per-source byte cap, and assign each document to train/val/test by a seeded hash of
its text. Three parquet files and stats.json appear only when everything succeeded.

Both hashes depend only on the seed and the document's own text, so a document's
split, and whether a capped source keeps it, does not move when other documents are
added or removed (a cap can still drop it when the new documents take its room).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tokattn.common.atomic_files import temp_file_beside
from tokattn.corpus.builtin_text import (
    LICENCES,
    BuiltinTextMissing,
    builtin_provenance,
    iter_builtin,
)
from tokattn.corpus.hf_source import CorpusError, iter_hf_documents
from tokattn.corpus.unicode_script import dominant_script

__all__ = ["CorpusError", "build_corpus", "assign_split", "dominant_script", "SPLITS"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("domain", pa.string()),
        ("language", pa.string()),
        ("licence", pa.string()),
        ("script", pa.string()),
        ("n_bytes", pa.int64()),
    ]
)
_FLUSH_BYTES = 16 << 20  # text buffered per split before a parquet row group is written


def assign_split(data: bytes, seed: int, val_fraction: float, test_fraction: float) -> str:
    """Return the split of a document given its UTF-8 bytes: a seeded hash, not its position."""
    # u = sha256(f"{seed}:{text}") / 2**256, uniform in [0, 1)
    hasher = hashlib.sha256(f"{seed}:".encode())
    hasher.update(data)  # the same digest as hashing f"{seed}:{text}", without a copy
    digest = hasher.digest()
    u = int.from_bytes(digest, "big") / 2**256
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _cap_key(data: bytes, seed: int) -> bytes:
    # Salted differently from assign_split: with the same hash, a cap (which keeps the
    # smallest keys) would keep mostly documents that land in test.
    return hashlib.sha256(f"{seed}:max_bytes:".encode() + data).digest()


class _SplitWriter:
    """Parquet writers for the three splits, writing to temp files in the target dirs."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths
        self.tmp_paths: dict[str, Path] = {}
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.buffers = {split: [[] for _ in SCHEMA.names] for split in SPLITS}
        self.buffered = dict.fromkeys(SPLITS, 0)
        try:
            for split, path in paths.items():
                fd, tmp = temp_file_beside(path)
                os.close(fd)
                self.tmp_paths[split] = tmp
                self.writers[split] = pq.ParquetWriter(tmp, SCHEMA, compression="zstd")
        except BaseException:
            self.abort()
            raise

    def add(self, split: str, row: tuple) -> None:
        """Buffer one row (values in SCHEMA order, n_bytes last)."""
        for column, value in zip(self.buffers[split], row, strict=True):
            column.append(value)
        self.buffered[split] += row[-1]
        if self.buffered[split] >= _FLUSH_BYTES:
            self._flush(split)

    def _flush(self, split: str) -> None:
        columns = self.buffers[split]
        if columns[0]:
            self.writers[split].write_table(pa.table(columns, schema=SCHEMA))
        self.buffers[split] = [[] for _ in SCHEMA.names]
        self.buffered[split] = 0

    def close(self) -> None:
        for split in SPLITS:
            self._flush(split)
            self.writers[split].close()

    def abort(self) -> None:
        """Close and delete the temp files: a failed build leaves nothing behind."""
        for writer in self.writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        for tmp in self.tmp_paths.values():
            tmp.unlink(missing_ok=True)


def _new_counts() -> dict:
    return {"documents": 0, "bytes": 0}


def _counts(pair: list[int]) -> dict:
    return {"documents": pair[0], "bytes": pair[1]}


def _source_documents(source: dict, counts: dict) -> Iterator[tuple[str, str]]:
    """Yield (raw text, language) of a source; builtin sources filtered to `language`."""
    if source["type"] == "hf":
        yield from iter_hf_documents(source, counts)
        return
    wanted = source["language"]
    try:
        for doc in iter_builtin(source["builtin"]):
            if wanted == "auto" or doc.language == wanted.split("_")[0].split("-")[0]:
                yield doc.text, doc.language
    except BuiltinTextMissing as exc:
        raise CorpusError(f"source {source['name']!r}: {exc}") from exc


def _source_label(source: dict) -> str:
    if source["type"] == "builtin":
        return f"builtin {source['builtin']} ({builtin_provenance(source['builtin'])})"
    files = source.get("data_files")
    files = [files] if isinstance(files, str) else (files or [])
    return f"{source['path']} {', '.join(files)}".strip()


class _CorpusBuilder:
    def __init__(self, corpus: dict, writer: _SplitWriter):
        self.corpus = corpus
        self.writer = writer
        self.seed = corpus["seed"]
        self.form = None if corpus["normalization"] == "none" else corpus["normalization"]
        self.seen: set[bytes] = set()  # digests of documents written (dedup across sources)
        # [documents, bytes] per (split, source, domain, language, script); every table
        # in stats.json is a sum over these cells.
        self.cells: dict[tuple, list[int]] = {}
        self.sources: dict[str, dict] = {}

    def _emit(self, source: dict, text: str, data: bytes, digest: bytes, language: str) -> None:
        split = assign_split(
            data, self.seed, self.corpus["val_fraction"], self.corpus["test_fraction"]
        )
        name, domain, n_bytes = source["name"], source["domain"], len(data)
        script = dominant_script(text)
        row = (digest.hex(), text, name, domain, language, source["_licence"], script, n_bytes)
        self.writer.add(split, row)
        cell = self.cells.get(key := (split, name, domain, language, script))
        if cell is None:
            cell = self.cells[key] = [0, 0]
        cell[0] += 1
        cell[1] += n_bytes

    def add_source(self, source: dict) -> None:
        name, cap = source["name"], source.get("max_bytes")
        builtin_licence = LICENCES[source["builtin"]] if source["type"] == "builtin" else None
        source = {**source, "_licence": source.get("licence") or builtin_licence}
        st = self.sources[name] = {
            "type": source["type"],
            "input": _source_label(source),
            "domain": source["domain"],
            "max_bytes": cap,
        }
        min_bytes, dedup = self.corpus["min_doc_bytes"], self.corpus["dedup"]
        local: set[bytes] = set()  # this source's digests, when a cap defers writing
        candidates = []  # (cap key, index, text, data, digest, language), capped sources only
        decode_counts: dict = {}
        read, short, dups = [0, 0], [0, 0], [0, 0]  # [documents, bytes]
        boms, nuls = 0, [0, 0]  # documents with a leading BOM; [documents, NUL characters]
        for text, language in _source_documents(source, decode_counts):
            data = text.encode("utf-8")
            read[0] += 1
            read[1] += len(data)
            # A byte-order mark at the start of a file is an encoding mark, not text.
            if text.startswith("\ufeff"):
                boms += 1
                text = text[1:]
                data = text.encode("utf-8")
            # NUL is never text, and HDF5's strings (the attention store) cannot hold it:
            # removed here, once, so every later stage sees the same clean text.
            if "\x00" in text:
                nuls[0] += 1
                nuls[1] += text.count("\x00")
                text = text.replace("\x00", "")
                data = text.encode("utf-8")
            if self.form:
                normalized = unicodedata.normalize(self.form, text)
                if normalized is not text:  # CPython returns the same object when unchanged
                    text, data = normalized, normalized.encode("utf-8")
            if len(data) < min_bytes:
                short[0] += 1
                short[1] += len(data)
                continue
            digest = hashlib.blake2b(data, digest_size=16).digest()
            if dedup:
                if digest in self.seen or digest in local:
                    dups[0] += 1
                    dups[1] += len(data)
                    continue
                (local if cap else self.seen).add(digest)
            if cap:
                candidates.append(
                    (_cap_key(data, self.seed), len(candidates), text, data, digest, language)
                )
            else:
                self._emit(source, text, data, digest, language)
        if read[0] == 0:
            raise CorpusError(
                f"source {name!r}: {_source_label(source)}: no documents (empty source)"
            )
        capped = self._apply_cap(source, cap, candidates) if cap else [0, 0]
        by_split = {split: _new_counts() for split in SPLITS}
        for (split, src, *_), (docs, n_bytes) in self.cells.items():
            if src == name:
                by_split[split]["documents"] += docs
                by_split[split]["bytes"] += n_bytes
        kept = {k: sum(c[k] for c in by_split.values()) for k in ("documents", "bytes")}
        st |= {
            "read": _counts(read),
            "kept": kept,
            "dropped_too_short": _counts(short),
            "dropped_duplicates": _counts(dups),
            "dropped_by_max_bytes": _counts(capped),
            "bom_stripped": boms,
            "nul_removed": {"documents": nuls[0], "characters": nuls[1]},
            "decode_replaced": decode_counts.get("decode_replaced", 0),
            "decode_skipped": decode_counts.get("decode_skipped", 0),
            "by_split": by_split,
        }
        log.info(
            "source %s: read %d docs (%d bytes); kept %d docs (%d bytes); dropped %d short, "
            "%d duplicate, %d over max_bytes (%d bytes)",
            name,
            read[0],
            read[1],
            kept["documents"],
            kept["bytes"],
            short[0],
            dups[0],
            capped[0],
            capped[1],
        )
        if kept["documents"] == 0:
            log.warning("source %s: no document kept", name)

    def _apply_cap(self, source: dict, cap: int, candidates: list) -> list[int]:
        """Keep documents in seeded hash order while they fit in `cap` bytes; write them in
        input order. Return [documents, bytes] left out."""
        candidates.sort()
        room, chosen, left_out = cap, [], [0, 0]
        for _key, index, text, data, digest, language in candidates:
            # A document that does not fit is passed over (not cut), so one long
            # document early in the hash order cannot starve the source.
            if len(data) <= room:
                chosen.append((index, text, data, digest, language))
                room -= len(data)
            else:
                left_out[0] += 1
                left_out[1] += len(data)
        for _, text, data, digest, language in sorted(chosen, key=lambda c: c[0]):
            self.seen.add(digest)
            self._emit(source, text, data, digest, language)
        return left_out

    def stats(self) -> dict:
        """Return the stats.json content: every table summed from the cells."""
        splits = {
            split: {
                **_new_counts(),
                "by_language": {},
                "by_domain": {},
                "by_source": {},
                "by_language_domain": {},
            }
            for split in SPLITS
        }
        scripts: dict[str, dict] = {}
        for (split, source, domain, language, script), (docs, n_bytes) in self.cells.items():
            s = splits[split]
            for counts in (
                s,
                s["by_language"].setdefault(language, _new_counts()),
                s["by_domain"].setdefault(domain, _new_counts()),
                s["by_source"].setdefault(source, _new_counts()),
                s["by_language_domain"].setdefault(language, {}).setdefault(domain, _new_counts()),
            ):
                counts["documents"] += docs
                counts["bytes"] += n_bytes
            info = scripts.setdefault(script or "none", {**_new_counts(), "languages": set()})
            info["documents"] += docs
            info["bytes"] += n_bytes
            info["languages"].add(language)
        return {
            "seed": self.seed,
            "normalization": self.corpus["normalization"],
            "dedup": self.corpus["dedup"],
            "min_doc_bytes": self.corpus["min_doc_bytes"],
            "val_fraction": self.corpus["val_fraction"],
            "test_fraction": self.corpus["test_fraction"],
            "bytes_are": "UTF-8 bytes after normalisation (read: before)",
            "total": {
                "documents": sum(s["documents"] for s in splits.values()),
                "bytes": sum(s["bytes"] for s in splits.values()),
            },
            "splits": splits,
            "sources": self.sources,
            "languages": sorted({key[3] for key in self.cells}),
            "domains": sorted({key[2] for key in self.cells}),
            "scripts": {
                script: {**info, "languages": sorted(info["languages"])}
                for script, info in sorted(scripts.items())
            },
        }


def _write_json_atomic(path: Path, payload: dict) -> Path:
    fd, tmp = temp_file_beside(path)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
    return tmp


def build_corpus(corpus: dict, train_path, val_path, test_path, stats_path) -> dict:
    """Build the corpus described by a validated `config["corpus"]`; return the stats dict.

    Writes train/val/test parquet and stats.json; all four appear only on success.
    """
    paths = {"train": Path(train_path), "val": Path(val_path), "test": Path(test_path)}
    stats_path = Path(stats_path)
    writer = _SplitWriter(paths)
    stats_tmp = None
    try:
        builder = _CorpusBuilder(corpus, writer)
        for source in corpus["sources"]:
            builder.add_source(source)
        writer.close()
        stats = builder.stats()
        stats_tmp = _write_json_atomic(stats_path, stats)
        # stats.json is the completion marker: removed first and put in place last, so a
        # job killed between the renames leaves no stats.json beside mixed parquet files.
        stats_path.unlink(missing_ok=True)
        for split in SPLITS:
            os.replace(writer.tmp_paths[split], paths[split])
        os.replace(stats_tmp, stats_path)
    except BaseException:
        writer.abort()
        if stats_tmp is not None:
            stats_tmp.unlink(missing_ok=True)
        raise
    log.info(
        "corpus: %d documents, %d bytes (train %d, val %d, test %d documents)",
        stats["total"]["documents"],
        stats["total"]["bytes"],
        *(stats["splits"][s]["documents"] for s in SPLITS),
    )
    return stats

"""Pre-tokenized corpus splits: flat token ids plus the UTF-8 bytes each token stands for.

One tokenizer and split give four files in `out_dir`:

    {split}.bin        token ids, uint16 (vocab <= 65536) or uint32; each document as the
                       tokenizer encodes it (tokattn's prepend <s>), then one EOS
    {split}.bytes.bin  per token, the UTF-8 bytes of the document it accounts for (uint16/uint32)
    {split}.docs.npy   int64 offsets of each document's first token, plus the total at the end
    {split}.json       metadata: counts, dtypes, EOS id, tokenizer hash, bytes per token

The byte counts partition the text: a token is charged the bytes from the end of what the
tokens before it covered to the end of its own span, and the EOS after a document is
charged whatever no token covered at its end (whitespace some pre-tokenizers drop). So a
document's counts, EOS included, sum to its UTF-8 length exactly, and summed NLL divided by
summed counts is an exact bits-per-byte for any window of tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokattn.common.atomic_files import is_disk_full, write_failure

READ_BATCH_DOCS = 512
ENCODE_SCHEMA_VERSION = 1


def token_dtype(vocab_size: int) -> np.dtype:
    """Return the smallest unsigned dtype that holds every id of a vocabulary."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def byte_counts_from_spans(spans: list[tuple[int, int]], n_bytes: int) -> np.ndarray:
    """Return per-token byte counts (one more entry, for the EOS) that sum to `n_bytes`.

    Spans may overlap (byte-fallback pieces of one character share its span) or leave
    gaps (dropped whitespace); charging each token the newly covered bytes handles both.
    """
    ends = np.fromiter((end for _, end in spans), dtype=np.int64, count=len(spans))
    covered = np.minimum(np.maximum.accumulate(ends), n_bytes) if len(ends) else ends
    counts = np.empty(len(spans) + 1, dtype=np.int64)
    counts[:-1] = np.diff(covered, prepend=0)
    counts[-1] = n_bytes - (covered[-1] if len(covered) else 0)
    return counts


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_json(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _narrow_copy(src: Path, dst: Path, dtype: np.dtype, chunk: int = 1 << 22) -> None:
    """Stream a uint32 file into `dst` as `dtype` (values are known to fit)."""
    data = np.memmap(src, dtype=np.uint32, mode="r")
    with open(dst, "wb") as fh:
        for start in range(0, len(data), chunk):
            data[start : start + chunk].astype(dtype).tofile(fh)
    del data


def pretokenize_split(
    tokenizer_dir: str | Path,
    parquet_paths: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    split: str,
    progress: bool = True,
) -> dict:
    """Tokenize one corpus split into `out_dir` (files above) and return its metadata.

    `parquet_paths` is the split's parquet file, or several read one after the other
    (the train split plus extra documents such as the evaluation stage's training mix).
    Streams the parquet in record batches and appends to temporary files; the final names
    appear only when everything is written, so a killed job leaves no complete-looking file.
    """
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from tokattn.tokenizing.tokenization import load_tokenizer, token_byte_spans_from_offsets

    tokenizer_dir, out_dir = Path(tokenizer_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(tokenizer_dir)
    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise ValueError(f"tokenizer {tokenizer_dir} has no EOS token; documents need a separator")
    vocab_size = len(tokenizer)
    ids_dtype = token_dtype(vocab_size)
    final = {
        "ids": out_dir / f"{split}.bin",
        "bytes": out_dir / f"{split}.bytes.bin",
        "docs": out_dir / f"{split}.docs.npy",
        "meta": out_dir / f"{split}.json",
    }
    tmp_ids = final["ids"].with_name(final["ids"].name + ".tmp")
    tmp_counts = final["bytes"].with_name(final["bytes"].name + ".u32.tmp")
    doc_offsets = array("q", [0])
    n_tokens = n_bytes = max_count = 0
    if isinstance(parquet_paths, (str, Path)):
        parquet_paths = [parquet_paths]
    parquets = [pq.ParquetFile(path) for path in parquet_paths]
    bar = tqdm(
        total=sum(parquet.metadata.num_rows for parquet in parquets),
        desc=f"pretokenize {tokenizer_dir.name}/{split}",
        unit="doc",
        disable=not progress,
        file=sys.stderr,
        mininterval=2.0,
    )
    tmp_bytes = final["bytes"].with_name(final["bytes"].name + ".tmp")
    tmp_docs = final["docs"].with_name(final["docs"].name + ".tmp.npy")
    temps = [
        tmp_ids,
        tmp_counts,
        tmp_bytes,
        tmp_docs,
        final["meta"].with_name(final["meta"].name + ".tmp"),
    ]
    try:
        backend = tokenizer.backend_tokenizer
        with open(tmp_ids, "wb") as f_ids, open(tmp_counts, "wb") as f_counts:
            batches = (
                batch
                for parquet in parquets
                for batch in parquet.iter_batches(batch_size=READ_BATCH_DOCS, columns=["text"])
            )
            for batch in batches:
                texts = batch.column(0).to_pylist()
                # add_special_tokens: the tokenizer's own template (tokattn's adds a leading <s>,
                # so training sees documents exactly as `tokenizer(text)` gives them later).
                for text, enc in zip(texts, backend.encode_batch(texts), strict=True):
                    spans = token_byte_spans_from_offsets(tokenizer, text, enc.tokens, enc.offsets)
                    doc_bytes = len(text.encode("utf-8"))
                    counts = byte_counts_from_spans(spans, doc_bytes)
                    ids = np.asarray([*enc.ids, eos_id], dtype=ids_dtype)
                    ids.tofile(f_ids)
                    counts.astype(np.uint32).tofile(f_counts)
                    n_tokens += len(ids)
                    n_bytes += doc_bytes
                    max_count = max(max_count, int(counts.max()))
                    doc_offsets.append(n_tokens)
                bar.update(batch.num_rows)
        bar.close()
        counts_dtype = np.dtype(np.uint16 if max_count < 2**16 else np.uint32)
        if counts_dtype == np.uint32:
            os.replace(tmp_counts, tmp_bytes)
        else:
            _narrow_copy(tmp_counts, tmp_bytes, counts_dtype)
            tmp_counts.unlink()
        np.save(tmp_docs, np.frombuffer(doc_offsets, dtype=np.int64))
        meta = {
            "schema_version": ENCODE_SCHEMA_VERSION,
            "split": split,
            "tokenizer": tokenizer_dir.name,
            "tokenizer_sha256": file_sha256(tokenizer_dir / "tokenizer.json"),
            "sources": [Path(path).name for path in parquet_paths],
            "vocab_size": vocab_size,
            "ids_dtype": ids_dtype.name,
            "bytes_dtype": counts_dtype.name,
            "eos_token_id": int(eos_id),
            "special_token_ids": {
                "bos": tokenizer.bos_token_id,
                "eos": int(eos_id),
                "pad": tokenizer.pad_token_id,
                "unk": tokenizer.unk_token_id,
            },
            "n_docs": len(doc_offsets) - 1,
            "n_tokens": n_tokens,
            "n_bytes": n_bytes,
            "bytes_per_token": n_bytes / n_tokens if n_tokens else 0.0,
        }
        # Data files first, metadata last: a split is complete when its .json exists.
        os.replace(tmp_ids, final["ids"])
        os.replace(tmp_bytes, final["bytes"])
        os.replace(tmp_docs, final["docs"])
        _atomic_json(meta, final["meta"])
    except BaseException as exc:
        # A failed or interrupted job leaves no temp file behind (they can be large).
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise write_failure(exc, final["ids"], temps) from exc
        raise
    return meta


@dataclass
class TokenizedSplit:
    """A pre-tokenized split opened as read-only memmaps."""

    ids: np.ndarray  # [n_tokens]
    byte_counts: np.ndarray  # [n_tokens]
    doc_offsets: np.ndarray  # [n_docs + 1]
    meta: dict

    @classmethod
    def open(cls, directory: str | Path, split: str) -> TokenizedSplit:
        """Return the split stored in `directory` (written by `pretokenize_split`)."""
        directory = Path(directory)
        meta = json.loads((directory / f"{split}.json").read_text(encoding="utf-8"))
        n = meta["n_tokens"]
        ids = np.memmap(directory / f"{split}.bin", dtype=meta["ids_dtype"], mode="r", shape=(n,))
        counts = np.memmap(
            directory / f"{split}.bytes.bin", dtype=meta["bytes_dtype"], mode="r", shape=(n,)
        )
        docs = np.load(directory / f"{split}.docs.npy", mmap_mode="r")
        return cls(ids=ids, byte_counts=counts, doc_offsets=docs, meta=meta)

    def __len__(self) -> int:
        return int(self.meta["n_tokens"])

    @property
    def bytes_per_token(self) -> float:
        """Return the mean UTF-8 bytes per token (EOS separators included)."""
        return float(self.meta["bytes_per_token"])

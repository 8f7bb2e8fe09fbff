"""Training text for tokenizers: streamed parquet batches, byte-budget samples, alphabets.

The train split is never materialised as one Python list: record batches of the
``text`` column are read with pyarrow and handed to the trainer as lists of
``TRAIN_BATCH_ROWS`` documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TRAIN_BATCH_ROWS = 1024
_N_CODEPOINTS = 0x110000
_WHITESPACE_CPS = np.array([c for c in range(0x3001) if chr(c).isspace()], dtype=np.int64)


@dataclass
class TrainStats:
    """Documents and UTF-8 bytes read from the train split."""

    n_docs: int = 0
    n_bytes: int = 0


def select_docs(path: Path, max_train_bytes: int | None, seed: int) -> np.ndarray | None:
    """Return a boolean row mask of a seeded sample of at most `max_train_bytes`, or None for all."""
    if max_train_bytes is None:
        return None
    pf = pq.ParquetFile(path)
    column = "n_bytes" if "n_bytes" in pf.schema_arrow.names else "text"
    sizes = []
    for batch in pf.iter_batches(batch_size=8 * TRAIN_BATCH_ROWS, columns=[column]):
        col = batch.column(0)
        col = col if column == "n_bytes" else pc.binary_length(col)
        sizes.append(col.fill_null(0).to_numpy(zero_copy_only=False))
    sizes = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    order = np.random.default_rng(seed).permutation(len(sizes))
    keep = order[np.cumsum(sizes[order]) <= max_train_bytes]
    if len(keep) == 0 and len(order):
        keep = order[:1]  # every document is over budget: train on one rather than none
    mask = np.zeros(len(sizes), dtype=bool)
    mask[keep] = True
    return mask


def _string_columns(
    path: Path, mask: np.ndarray | None, stats: TrainStats | None, batch_rows: int
) -> Iterator[pa.Array]:
    pf = pq.ParquetFile(path)
    if "text" not in pf.schema_arrow.names:
        raise ValueError(f"{path}: no 'text' column (columns: {', '.join(pf.schema_arrow.names)})")
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=["text"]):
        col = batch.column(0)
        if mask is not None:
            col = col.filter(pa.array(mask[row : row + len(col)]))
            row += batch.num_rows
        col = col.drop_null()
        if stats is not None:
            stats.n_docs += len(col)
            stats.n_bytes += pc.sum(pc.binary_length(col)).as_py() or 0
        if len(col):
            yield col


def text_batches(
    path: Path,
    mask: np.ndarray | None,
    stats: TrainStats | None = None,
    batch_rows: int = TRAIN_BATCH_ROWS,
) -> Iterator[list[str]]:
    """Yield lists of document texts (rows where `mask` is true) from a parquet file."""
    for col in _string_columns(path, mask, stats, batch_rows):
        yield col.to_pylist()


def char_counts(batches, pre_tokenizer: str) -> np.ndarray:
    """Return the count of every code point as the model sees it after pre-tokenization.

    `batches` yields lists of documents. Metaspace reads a space as '▁' and prepends
    one '▁' to every document.
    """
    counts = np.zeros(_N_CODEPOINTS, dtype=np.int64)
    n_docs = 0
    for texts in batches:
        n_docs += len(texts)
        text = "".join(texts)
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        if len(cps):
            batch_counts = np.bincount(cps)
            counts[: len(batch_counts)] += batch_counts
    if pre_tokenizer == "metaspace":
        counts[ord("▁")] += counts[ord(" ")] + n_docs
        counts[ord(" ")] = 0
    elif pre_tokenizer == "whitespace":
        counts[_WHITESPACE_CPS] = 0
    return counts


def coverage_alphabet(counts: np.ndarray, coverage: float, cap: int | None) -> list[str]:
    """Return the most frequent characters covering `coverage` of all, at most `cap` of them."""
    seen = np.flatnonzero(counts)
    if len(seen) == 0:
        return []
    order = seen[np.lexsort((seen, -counts[seen]))]  # by count, ties by code point
    cum = np.cumsum(counts[order])
    k = int(np.searchsorted(cum, coverage * cum[-1], side="left")) + 1
    k = min(k, len(order), cap if cap is not None else len(order))
    return [chr(c) for c in order[:k]]


def iter_texts(parquet: str | Path, batch_rows: int = TRAIN_BATCH_ROWS) -> Iterator[list[str]]:
    """Yield the text column of a parquet file in lists of at most `batch_rows` documents."""
    yield from text_batches(Path(parquet), None, batch_rows=batch_rows)

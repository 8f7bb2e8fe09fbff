"""Pre-tokenized splits: ids, exact per-token byte counts, document boundaries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tokattn.training.tokenized import TokenizedSplit, byte_counts_from_spans, pretokenize_split

from .conftest import TOKENIZER_SPECS


def test_byte_counts_partition_overlaps_gaps_and_tail():
    # Two byte-fallback pieces share one 2-byte character; a gap (dropped space) before
    # the third token; 2 trailing bytes no token covers go to the EOS slot.
    spans = [(0, 2), (0, 2), (3, 5)]
    counts = byte_counts_from_spans(spans, 7)
    assert counts.tolist() == [2, 0, 3, 2]
    assert byte_counts_from_spans([], 5).tolist() == [5]


@pytest.mark.parametrize("name", list(TOKENIZER_SPECS))
@pytest.mark.parametrize("split", ["train", "val"])
def test_document_byte_counts_sum_to_utf8_length(name, split, corpus_dir, tokenized_dir):
    data = TokenizedSplit.open(tokenized_dir / name, split)
    frame = pd.read_parquet(corpus_dir / f"{split}.parquet")
    counts = np.asarray(data.byte_counts, dtype=np.int64)
    per_doc = np.add.reduceat(counts, data.doc_offsets[:-1])
    expected = [len(t.encode("utf-8")) for t in frame["text"]]
    assert per_doc.tolist() == expected
    assert data.meta["n_bytes"] == sum(expected) == counts.sum()
    assert data.meta["n_docs"] == len(frame)
    eos = data.meta["eos_token_id"]
    # Every document ends with exactly one EOS, and EOS appears nowhere else.
    ends = data.doc_offsets[1:] - 1
    assert (np.asarray(data.ids[ends]) == eos).all()
    assert int((np.asarray(data.ids) == eos).sum()) == len(frame)
    assert data.bytes_per_token == pytest.approx(counts.sum() / len(data))


def test_ids_match_the_tokenizer(corpus_dir, tokenizers_dir, tokenized_dir):
    from tokattn.tokenizing.tokenization import load_tokenizer

    tok = load_tokenizer(tokenizers_dir / "bpe")
    data = TokenizedSplit.open(tokenized_dir / "bpe", "val")
    text = pd.read_parquet(corpus_dir / "val.parquet")["text"].iloc[0]
    start, stop = data.doc_offsets[0], data.doc_offsets[1]
    assert np.asarray(data.ids[start:stop]).tolist() == [*tok(text)["input_ids"], tok.eos_token_id]
    assert data.ids.dtype == np.uint16


def test_writes_atomically_and_records_metadata(corpus_dir, tokenizers_dir, tmp_path):
    meta = pretokenize_split(
        tokenizers_dir / "byte", corpus_dir / "val.parquet", tmp_path, "val", progress=False
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "val.bin",
        "val.bytes.bin",
        "val.docs.npy",
        "val.json",
    ]
    assert json.loads((tmp_path / "val.json").read_text()) == meta
    assert meta["tokenizer"] == "byte" and len(meta["tokenizer_sha256"]) == 64
    assert meta["special_token_ids"] == {"bos": 0, "eos": 1, "pad": 2, "unk": 3}
    # A byte tokenizer spends one token per byte, plus <s> and </s> per document.
    assert meta["n_tokens"] == meta["n_bytes"] + 2 * meta["n_docs"]


def test_several_parquet_files_make_one_split(corpus_dir, tokenizers_dir, tmp_path):
    one = pretokenize_split(
        tokenizers_dir / "bpe", corpus_dir / "val.parquet", tmp_path / "one", "val", False
    )
    both = pretokenize_split(
        tokenizers_dir / "bpe",
        [corpus_dir / "val.parquet", corpus_dir / "test.parquet"],
        tmp_path / "both",
        "val",
        False,
    )
    test = pd.read_parquet(corpus_dir / "test.parquet")
    assert both["n_docs"] == one["n_docs"] + len(test)
    assert both["n_bytes"] == one["n_bytes"] + int(test["n_bytes"].sum())
    assert both["sources"] == ["val.parquet", "test.parquet"]
    head = TokenizedSplit.open(tmp_path / "both", "val").ids[: one["n_tokens"]]
    assert np.array_equal(head, TokenizedSplit.open(tmp_path / "one", "val").ids)

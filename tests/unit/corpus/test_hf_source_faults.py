"""hf corpus sources: rows of mixed JSON types and data_files globs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tokattn.corpus.hf_source import (
    CorpusError,
    data_file_paths,
    iter_hf_documents,
    resolve_data_files,
)


def _source(data_files, **keys) -> dict:
    return {
        "name": "mixed",
        "type": "hf",
        "path": "json",
        "data_files": data_files,
        "split": "train",
        "text_field": "text",
        "language": "en",
        "on_decode_error": "error",
        "hub": False,
        **keys,
    }


def _write_jsonl(path: Path, texts: list) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad_row", [0, 150, 5000])
def test_mixed_type_text_field_names_the_bad_row(tmp_path, bad_row):
    """`datasets` stores a field of mixed JSON types as JSON text; the bad row is named."""
    texts = [f"document number {i}" for i in range(bad_row + 20)]
    texts[bad_row] = 12345
    path = _write_jsonl(tmp_path / "mixed.jsonl", texts)
    with pytest.raises(CorpusError) as info:
        list(iter_hf_documents(_source(str(path)), {}))
    msg = str(info.value)
    assert f"row {bad_row} (0-based)" in msg and "int 12345" in msg and str(path) in msg, msg


def test_rows_before_a_mixed_type_row_read_as_plain_strings(tmp_path, monkeypatch):
    """Batches without a bad row are decoded, not passed on as JSON text ('"..."')."""
    import tokattn.corpus.hf_source as hf_source

    monkeypatch.setattr(hf_source, "_BATCH_ROWS", 10)
    texts = [f"document number {i}" for i in range(30)]
    texts[25] = ["a", "list"]
    path = _write_jsonl(tmp_path / "mixed.jsonl", texts)
    seen = []
    with pytest.raises(CorpusError, match=r"row 25 \(0-based\).*holds list"):
        for text, _ in iter_hf_documents(_source(str(path)), {}):
            seen.append(text)
    assert seen == texts[:20]


def test_data_file_globs_expand_like_the_reader(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    for name in ("b.jsonl", "a.jsonl", "sub/c.jsonl", "skip.txt"):
        _write_jsonl(tmp_path / "data" / name, ["x"])
    (tmp_path / "data" / "dir.jsonl").mkdir()  # matches the pattern but is no file
    src = _source(["data/*.jsonl", "data/**/c.jsonl"])
    assert data_file_paths(src) == ["data/a.jsonl", "data/b.jsonl", "data/sub/c.jsonl"]
    assert resolve_data_files(src) == [tmp_path / p for p in data_file_paths(src)]
    with pytest.raises(CorpusError, match="'data/none-\\*.jsonl' matches no file"):
        data_file_paths(_source("data/none-*.jsonl"))
    with pytest.raises(CorpusError, match="'data/gone.jsonl' not found"):
        data_file_paths(_source("data/gone.jsonl"))
    assert os.getcwd() == str(tmp_path)

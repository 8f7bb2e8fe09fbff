"""A full disk during the attention dump and pretokenize: a clear error, no temp file left."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.injection import write_probes
from tests.tiny_models import TRAIN_TEXT, save_tiny_model, write_corpus_parquet
from tokattn.training.tokenized import pretokenize_split

ROOT = Path(__file__).resolve().parents[2]
DUMP = """
import sys
from tokattn.attention.dump import dump_attention
dump_attention(sys.argv[1], sys.argv[2], sys.argv[3], "tiny", 0, {"device": "cpu"})
"""


def test_dump_on_a_full_disk_fails_clearly_and_cleans_up(small_filesystem, tmp_path):
    model = save_tiny_model(tmp_path / "model", "byte", context=64)
    probes = write_probes(tmp_path / "probes.jsonl")
    disk = small_filesystem(60 * 1024)  # the store of these probes is ~110 kB
    out = disk / "attention" / "seed0.h5"
    # A separate process: HDF5 used to crash (SIGSEGV) here, which would end pytest too.
    done = subprocess.run(
        [sys.executable, "-c", DUMP, str(model), str(probes), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"OSError: [Errno {errno.ENOSPC}] {out}: disk full while writing")
    assert "temp files removed (.seed0.h5.tmp-" in last
    assert list(out.parent.iterdir()) == []


def test_pretokenize_on_a_full_disk_fails_clearly_and_cleans_up(small_filesystem, tmp_path):
    tokenizer = save_tiny_model(tmp_path / "model", "byte", context=64)
    corpus = write_corpus_parquet(tmp_path / "train.parquet", [TRAIN_TEXT] * 8)  # ~0.5 MB
    disk = small_filesystem(200 * 1024)
    out = disk / "tokenized"
    with pytest.raises(OSError, match=rf"{out}/train\.bin: disk full while writing") as info:
        pretokenize_split(tokenizer, corpus, out, "train", progress=False)
    assert info.value.errno == errno.ENOSPC
    assert "temp files removed (train.bin.tmp" in str(info.value)
    assert list(out.iterdir()) == []
    # With room, the same call succeeds (nothing left over blocks it).
    meta = pretokenize_split(tokenizer, corpus, tmp_path / "tokenized", "train", progress=False)
    assert meta["n_bytes"] == 8 * len(TRAIN_TEXT.encode("utf-8"))

"""Result files get the mode a plain open() gives (0666 less the umask), whatever writes them.

Temp-file writers (`mkstemp`: 0600, `mkdtemp`: 0700) must not leak their private modes
through the rename: a copied or web-served report has to open for others.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.tiny_models import byte_tokenizer, save_tiny_model
from tests.unit.viewer.stores import synthetic_record
from tokattn.attention.head_analysis import _write_parquet
from tokattn.attention.pretrained import import_pretrained
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.attention.word_maps import WordMapWriter
from tokattn.common.atomic_files import publish_dir, temp_file_beside, write_text_atomic
from tokattn.evaluation.tasks.items import write_json_atomic, write_jsonl_atomic
from tokattn.tokenizing.folder import save_tokenizer
from tokattn.training.checkpoint import save_checkpoint


@pytest.fixture(params=[0o022, 0o027, 0o077], ids=lambda m: f"umask{m:03o}")
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _plain_mode(tmp_path: Path) -> int:
    """The mode a plain open() gives under the current umask (the independent reference)."""
    probe = tmp_path / "plain-open.txt"
    with open(probe, "w") as fh:
        fh.write("x")
    mode = _mode(probe)
    probe.unlink()
    return mode


def test_reference_mode_follows_the_umask(umask, tmp_path):
    assert _plain_mode(tmp_path) == 0o666 & ~umask  # 022 -> 0644, 027 -> 0640


def test_text_json_and_jsonl_writers(umask, tmp_path):
    want = _plain_mode(tmp_path)
    paths = [
        write_text_atomic(tmp_path / "report" / "index.html", "<html></html>"),
        tmp_path / "summary.json",
        tmp_path / "items.jsonl",
    ]
    write_json_atomic(paths[1], {"a": 1})
    assert write_jsonl_atomic(paths[2], [{"a": 1}, {"b": 2}]) == 2
    for path in paths:
        assert oct(_mode(path)) == oct(want), path
    assert not [p for p in tmp_path.rglob(".*tmp*")]  # no temp file left behind


def test_temp_file_beside_is_not_private(umask, tmp_path):
    fd, tmp = temp_file_beside(tmp_path / "out.parquet")
    os.close(fd)
    assert tmp.parent == tmp_path and tmp.name.startswith(".out.parquet.")
    assert _mode(tmp) == _plain_mode(tmp_path)
    fd, bare = tempfile.mkstemp(dir=tmp_path)  # what the writers used to get
    os.close(fd)
    assert _mode(bare) == 0o600


def test_hdf5_parquet_and_checkpoint_writers(umask, tmp_path):
    want = _plain_mode(tmp_path)
    store = tmp_path / "attention" / "m" / "seed0.h5"
    with AttentionStoreWriter(store, {"model": "m", "seed": 0}, compression="lzf") as writer:
        writer.write(synthetic_record("p-0", n_tokens=8, n_layers=1, n_heads=2))
    words = tmp_path / "analysis" / "word_maps.h5"
    with WordMapWriter(words, {"model": "m"}) as writer:
        writer.write("p-0", np.zeros((1, 2, 3, 3), np.float32), np.zeros((3, 2), np.int32))
    heads = tmp_path / "analysis" / "heads.parquet"
    _write_parquet(pd.DataFrame({"layer": [0], "head": [1]}), heads)
    ckpt = save_checkpoint({"step": 1, "w": torch.zeros(2)}, tmp_path / "checkpoints")
    for path in (store, words, heads, ckpt):
        assert oct(_mode(path)) == oct(want), path


def test_published_folders_lose_private_modes(umask, tmp_path):
    tmp = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as mkdtemp makes it
    (tmp / "sub").mkdir(mode=0o700)
    for name in ("model.safetensors", "sub/x.json"):
        fd, written = tempfile.mkstemp(dir=tmp / Path(name).parent)
        os.close(fd)
        os.replace(written, tmp / name)  # 0600, as an mkstemp writer leaves it
    out = tmp_path / "models" / "m" / "seed0"
    out.parent.mkdir(parents=True)
    out.mkdir()  # an older run's folder is replaced
    publish_dir(tmp, out)
    assert not tmp.exists()
    assert _mode(out) == _mode(out / "sub") == 0o777 & ~umask
    assert _mode(out / "model.safetensors") == _mode(out / "sub/x.json") == _plain_mode(tmp_path)


def test_imported_model_folder(umask, tmp_path_factory, tmp_path):
    source = save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), kind="byte", context=64)
    out = import_pretrained({"name": "tiny", "path": str(source)}, tmp_path / "seed0")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"model.safetensors", "config.json", "train_summary.json"} <= {p.name for p in files}
    want = _plain_mode(tmp_path)
    for path in files:
        assert oct(_mode(path)) == oct(want), path
    assert _mode(out) == 0o777 & ~umask


def test_tokenizer_folder(umask, tmp_path):
    out = save_tokenizer(byte_tokenizer(), tmp_path / "tokenizers" / "byte", {"kind": "byte"})
    files = sorted(out.iterdir())
    assert "tokenizer.json" in {p.name for p in files}
    want = _plain_mode(tmp_path)
    for path in files:
        assert oct(_mode(path)) == oct(want), path
    assert _mode(out) == 0o777 & ~umask
    assert [p.name for p in tmp_path.joinpath("tokenizers").iterdir()] == ["byte"]  # no temp dir

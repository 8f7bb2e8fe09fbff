"""NUL characters and a byte-order mark in corpus text: removed, counted, and the dump runs."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.tiny_models import save_tiny_model
from tokattn.attention.dump import dump_attention
from tokattn.attention.probes import build_probes
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.common.config import validate_config
from tokattn.corpus.build import build_corpus

LINES = [
    "\ufeffThe first line of the file starts with a byte-order mark, then plain words.",
    "A line with\x00 two NUL\x00 characters inside, which HDF5 strings cannot hold.",
    *[
        f"Ordinary sentence number {i} about rivers, stones and the light at dusk."
        for i in range(30)
    ],
]


def test_nul_and_bom_are_removed_counted_and_dumped(tmp_path):
    src = tmp_path / "docs.txt"
    src.write_bytes(("\n".join(LINES) + "\n").encode("utf-8"))
    source = {"name": "txt", "type": "hf", "path": "text", "data_files": str(src)}
    source |= {"domain": "test", "language": "en"}
    config = {"corpus": {"sources": [source]}, "tokenizers": [{"name": "byte", "kind": "byte"}]}
    corpus = validate_config(config)["corpus"]
    out = tmp_path / "corpus"
    paths = [out / f"{s}.parquet" for s in ("train", "val", "test")]
    stats = build_corpus(corpus, *paths, out / "stats.json")
    st = stats["sources"]["txt"]
    assert st["bom_stripped"] == 1
    assert st["nul_removed"] == {"documents": 1, "characters": 2}
    rows = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    assert not rows["text"].str.contains("\x00|\ufeff", regex=True).any()
    assert "The first line of the file" in set(rows["text"].str[:26])
    assert (rows["n_bytes"] == rows["text"].map(lambda t: len(t.encode())).values).all()

    # Every document becomes a probe, so the two cleaned ones reach the dump.
    everything = tmp_path / "all.parquet"
    rows.to_parquet(everything)
    probes_path = tmp_path / "probes.jsonl"
    probes = build_probes(
        everything, probes_path, {"simple": False, "stress_kinds": [], "per_group": 64}
    )
    assert any(p["text"].startswith("A line with two NUL") for p in probes)
    model = save_tiny_model(tmp_path / "model", "byte", context=64)
    store = dump_attention(model, probes_path, tmp_path / "seed0.h5", "tiny", 0, {"device": "cpu"})
    with AttentionStore(store) as s:
        assert len(s) == len(probes)


def test_writer_names_the_probe_with_a_nul(tmp_path):
    from tests.unit.attention.test_attention_store import make_record

    record = make_record("bad-probe")
    record.text = "nul\x00inside"
    message = "probe bad-probe: text or token strings contain NUL"
    with pytest.raises(ValueError, match=message), AttentionStoreWriter(tmp_path / "s.h5", {}) as w:
        w.write(record)
    assert list(tmp_path.iterdir()) == []

"""The probe set: byte budgets, kinds, ids and stress-probe contents."""

from __future__ import annotations

import json

import pandas as pd

from tokattn.attention.probes import STRESS_KINDS, build_probes, cut_to_bytes


def test_cut_to_bytes_keeps_whole_characters():
    assert cut_to_bytes("aé世", 3) == "aé"
    assert cut_to_bytes("aé世", 5) == "aé"
    assert cut_to_bytes("aé世", 6) == "aé世"
    assert cut_to_bytes("日本", 1) == ""


def test_build_probes(tmp_path, corpus_dir):
    out = tmp_path / "probes.jsonl"
    probes = build_probes(
        corpus_dir / "test.parquet", out, {"max_bytes": 64, "stress_per_kind": 2, "seed": 7}
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == probes
    ids = [p["id"] for p in probes]
    assert len(ids) == len(set(ids))
    for p in probes:
        assert {"id", "text", "language", "domain", "kind"} <= set(p)
        assert 0 < p["n_bytes"] == len(p["text"].encode()) <= 64
    kinds = {p["kind"] for p in probes}
    assert kinds == {"corpus", "simple", *STRESS_KINDS}
    test = pd.read_parquet(corpus_dir / "test.parquet")
    groups = set(zip(test.language, test.domain, strict=True))
    corpus = [p for p in probes if p["kind"] == "corpus"]
    assert {(p["language"], p["domain"]) for p in corpus} == groups
    for p in corpus:
        doc = test.set_index("id").loc[p["meta"]["doc_id"], "text"]
        assert doc.startswith(p["text"])
    for p in probes:
        meta = p["meta"]
        if p["kind"] == "addition":
            assert meta["equations"]
            for a, b, total in meta["equations"]:
                assert a + b == total and f"{a} + {b} = {total}" in p["text"]
                # Every column but the leading one carries.
                assert all(
                    int(x) + int(y) >= 10 for x, y in zip(str(a)[1:], str(b)[1:], strict=False)
                )
        if p["kind"] == "repeat":
            data = p["text"].encode()
            period = meta["period_bytes"]
            assert data[period:] == data[: period - 1]
        if p["kind"] == "rare_words":
            s, e = meta["rare_word_span"]
            assert p["text"].encode()[s:e].decode() == meta["rare_word"]
    # Same inputs, same probes.
    again = build_probes(
        corpus_dir / "test.parquet",
        tmp_path / "again.jsonl",
        {"max_bytes": 64, "stress_per_kind": 2, "seed": 7},
    )
    assert again == probes


def test_group_cap_and_language_filter(tmp_path, corpus_dir):
    probes = build_probes(
        corpus_dir / "test.parquet",
        tmp_path / "p.jsonl",
        {"languages": ["en"], "simple": False, "stress_kinds": []},
    )
    assert {p["language"] for p in probes} == {"en"} and len(probes) == 2
    probes = build_probes(
        corpus_dir / "test.parquet",
        tmp_path / "p.jsonl",
        {"max_groups": 1, "simple": False, "stress_kinds": []},
    )
    assert len(probes) == 1

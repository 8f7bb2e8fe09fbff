"""Per-head statistics on hand-made maps, and the analysis of a real dump."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokattn.attention_store import AttentionRecord, pack_lower
from tokattn.head_analysis import (
    HEAD_STATS,
    WordMaps,
    analyze_store,
    induction_targets,
    probe_head_sums,
)


def _record(maps, text, spans, kind="corpus", meta=None) -> AttentionRecord:
    layers, heads, n, _ = maps.shape
    ones = np.ones((layers, heads, n), np.float32)
    return AttentionRecord(
        probe_id="p",
        text=text,
        language="en",
        domain="d",
        kind=kind,
        meta=meta or {},
        token_ids=np.arange(n, dtype=np.int32),
        token_strings=[str(i) for i in range(n)],
        byte_spans=np.asarray(spans, np.int32),
        window_start=np.zeros(n, np.int32),
        attention=pack_lower(maps.astype(np.float16)),
        entropy=ones,
        head_norm=ones,
        head_cosine=ones,
        attn_out_norm=np.ones((layers, n), np.float32),
        decomposition_error=np.zeros(layers, np.float32),
        lens_ids=np.zeros((layers, n, 1), np.int32),
        lens_probs=np.ones((layers, n, 1), np.float32),
    )


def test_previous_token_and_sink_heads():
    n = 6
    prev = np.eye(n, k=-1)
    prev[0, 0] = 1
    sink = np.zeros((n, n))
    sink[:, 0] = 1
    text = "abcde"
    spans = [[0, 0]] + [[i, i + 1] for i in range(5)]
    rec = _record(np.stack([prev, sink])[None], text, spans)
    sums, count = probe_head_sums(rec, add_bos=True)
    assert count == n - 1  # the first position has one visible key and is left out
    np.testing.assert_allclose(sums["prev_token_score"][0] / count, [1, 1 / count])
    np.testing.assert_allclose(sums["sink_score"][0] / count, [1 / count, 1])
    np.testing.assert_allclose(sums["distance_tokens"][0] / count, [1, np.mean(range(1, n))])
    np.testing.assert_allclose(sums["contribution_share"][0] / count, [0.5, 0.5])


def test_induction_targets_in_bytes():
    span = "ab cd"
    text = f"{span} {span}"
    # Tokens: BOS, "ab", " cd", " ", "ab", " c", "d" — the second copy is cut differently.
    spans = [[0, 0], [0, 2], [2, 5], [5, 6], [6, 8], [8, 10], [10, 11]]
    rec = _record(
        np.zeros((1, 1, 7, 7)),
        text,
        spans,
        kind="repeat",
        meta={"period_bytes": 6, "repeat_start_byte": 6},
    )
    queries, keys = induction_targets(rec)
    # "ab" (6..8) -> token after the first "ab" starts at 8-6=2: " cd" (token 2).
    # " c" (8..10) -> byte 4: no token starts there; "d" (10..11) -> byte 5: " " (token 3).
    assert queries.tolist() == [4, 6] and keys.tolist() == [2, 3]


def test_analyze_store_outputs(stores, tmp_path):
    out = tmp_path / "analysis"
    heads = analyze_store(
        stores["gpt2"],
        out / "heads.parquet",
        out / "word_maps.h5",
        out / "correlations.parquet",
        max_samples=2000,
    )
    assert len(heads) == 2 * 4
    disk = pd.read_parquet(out / "heads.parquet")
    assert {"layer", "head", "induction_score", *HEAD_STATS} <= set(disk.columns)
    assert disk["entropy_norm"].between(0, 1 + 1e-6).all()
    assert disk["sink_score"].between(0, 1).all() and disk["prev_token_score"].between(0, 1).all()
    np.testing.assert_allclose(disk.groupby("layer")["contribution_share"].sum(), 1, atol=1e-5)
    assert disk["distance_bytes"].ge(disk["distance_tokens"] - 1e-6).all()  # BPE tokens >= 1 byte
    assert disk["induction_score"].notna().all()
    corr = pd.read_parquet(out / "correlations.parquet")
    assert {"level", "x", "y", "method", "r", "p_value", "n"} <= set(corr.columns)
    assert set(corr["level"]) == {"head", "position"}
    with WordMaps(out / "word_maps.h5") as wm:
        assert wm.attrs["model"] == "gpt2"
        maps = wm.maps(wm.probe_ids[0])
        np.testing.assert_allclose(maps.sum(-1), 1, atol=1e-4)

"""Per-head statistics on hand-made maps, and the analysis of a real dump."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import entropy as scipy_entropy

from tokattn.attention.head_analysis import (
    HEAD_STATS,
    analyze_store,
    induction_targets,
    probe_head_sums,
    visible_keys,
    word_head_sums,
)
from tokattn.attention.lower_triangle import pack_lower
from tokattn.attention.projection import unit_spans
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import AttentionRecord
from tokattn.attention.word_maps import WordMaps


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
    sums, counts = probe_head_sums(rec, add_bos=True)
    count = counts["prev_token_score_per_token"][0, 0]
    assert count == n - 1  # the first position has one visible key and is left out
    np.testing.assert_allclose(sums["prev_token_score_per_token"][0] / count, [1, 1 / count])
    np.testing.assert_allclose(sums["sink_score"][0] / count, [1 / count, 1])
    # Distances are over text keys, from queries with two visible text keys (q >= 2):
    # the previous-token head is at distance 1; the sink head puts nothing on text.
    assert counts["distance_tokens"][0].tolist() == [n - 2, 0]
    np.testing.assert_allclose(sums["distance_tokens"][0, 0] / (n - 2), 1)
    np.testing.assert_allclose(sums["contribution_norm_share"][0] / count, [0.5, 0.5])


def test_sink_mass_does_not_count_as_distance():
    # 99 % on BOS, 1 % spread uniformly over the text keys: the old definition
    # (Σ_k a_qk (q − k) with BOS at distance q) grows with q; over text keys it does not.
    n = 12
    rng = np.random.default_rng(0)
    maps = np.zeros((1, 1, n, n))
    maps[..., 0, 0] = 1
    for q in range(1, n):
        maps[..., q, 0] = 0.99
        maps[..., q, 1 : q + 1] = 0.01 * rng.dirichlet(np.ones(q))
    text = "abcdefghijk"
    spans = [[0, 0]] + [[i, i + 1] for i in range(n - 1)]
    rec = _record(maps, text, spans)
    sums, counts = probe_head_sums(rec, add_bos=True)
    dense = rec.attention_maps()[0, 0].astype(np.float64)  # float16 as stored
    want_dist, want_sink = [], []
    for q in range(1, n):
        want_sink.append(dense[q, 0])
        if q >= 2:  # two visible text keys
            text_row = dense[q, 1 : q + 1]
            want_dist.append(sum(w * (q - k) for k, w in enumerate(text_row, 1)) / text_row.sum())
    np.testing.assert_allclose(
        sums["distance_bytes"][0, 0] / counts["distance_bytes"][0, 0], np.mean(want_dist), rtol=1e-6
    )
    np.testing.assert_allclose(
        sums["sink_score"][0, 0] / counts["sink_score"][0, 0], np.mean(want_sink), rtol=1e-6
    )
    assert sums["sink_score"][0, 0] / counts["sink_score"][0, 0] > 0.98


def test_word_frame_statistics_against_scipy():
    rng = np.random.default_rng(2)
    n_words = 6
    maps = np.tril(rng.random((2, 3, n_words, n_words)) + 1e-3)
    maps /= maps.sum(-1, keepdims=True)
    mass = rng.random((2, 3, n_words))
    sums, count = word_head_sums(maps, mass)
    assert count == n_words - 1  # word 0 sees only itself
    for layer in range(2):
        for head in range(3):
            ent = [
                scipy_entropy(maps[layer, head, w, : w + 1]) / np.log(w + 1)
                for w in range(1, n_words)
            ]
            prev = [maps[layer, head, w, w - 1] for w in range(1, n_words)]
            dist = [
                sum(maps[layer, head, w, k] * (w - k) for k in range(w + 1))
                for w in range(1, n_words)
            ]
            got = {k: v[layer, head] / count for k, v in sums.items()}
            np.testing.assert_allclose(got["entropy_norm_word"], np.mean(ent))
            np.testing.assert_allclose(got["prev_word_score"], np.mean(prev))
            np.testing.assert_allclose(got["distance_words"], np.mean(dist))
            np.testing.assert_allclose(got["word_projected_mass"], mass[layer, head, 1:].mean())
    one, count = word_head_sums(maps[..., :1, :1], mass[..., :1])
    assert count == 0


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
    assert {"layer", "head", "induction_score", "induction_n_queries", *HEAD_STATS} <= set(
        disk.columns
    )
    assert disk["entropy_norm_per_token"].between(0, 1 + 1e-6).all()
    assert disk["entropy_norm_word"].between(0, 1 + 1e-6).all()
    assert disk["sink_score"].between(0, 1).all()
    assert disk["prev_token_score_per_token"].between(0, 1).all()
    np.testing.assert_allclose(disk.groupby("layer")["contribution_norm_share"].sum(), 1, atol=1e-5)
    # Additive shares: heads plus the bias term sum to 1 in every layer.
    per_layer = disk.groupby("layer").agg(
        heads=("contribution_additive", "sum"), bias=("bias_additive", "first")
    )
    np.testing.assert_allclose(per_layer["heads"] + per_layer["bias"], 1, atol=1e-4)
    assert disk["distance_bytes"].ge(disk["distance_tokens"] - 1e-6).all()  # BPE tokens >= 1 byte
    assert disk["induction_score"].notna().all()
    _check_against_raw_maps(stores["gpt2"], disk)
    corr = pd.read_parquet(out / "correlations.parquet")
    assert {"level", "x", "y", "method", "r", "p_value", "n"} <= set(corr.columns)
    assert set(corr["level"]) == {"head", "position"}
    with WordMaps(out / "word_maps.h5") as wm:
        assert wm.attrs["model"] == "gpt2"
        maps = wm.maps(wm.probe_ids[0])
        np.testing.assert_allclose(maps.sum(-1), 1, atol=1e-4)


def _check_against_raw_maps(store_path, heads: pd.DataFrame) -> None:
    """Recompute some columns with plain loops over the store's dense maps."""
    sums = {}
    n_q, n_w, n_ind = 0, 0, 0
    with AttentionStore(store_path) as store:
        add_bos = bool(store.attrs["add_bos"])
        for rec in store:
            maps = rec.attention_maps().astype(np.float64)  # [layer, head, q, k]
            spans = rec.byte_spans
            keys = visible_keys(rec, add_bos)
            starts = spans[:, 0]
            add = rec.head_norm * rec.head_cosine / rec.attn_out_norm[:, None]
            for q in range(rec.n_tokens):
                if keys[q] < 2:
                    continue
                n_q += 1
                text_k = [k for k in range(q + 1) if spans[k, 1] > spans[k, 0]]
                sink_k = [k for k in range(q + 1) if spans[k, 1] <= spans[k, 0]]
                row = maps[..., q, :]
                s = sums.setdefault("sink", np.zeros(maps.shape[:2]))
                s += row[..., sink_k].sum(-1)
                a = sums.setdefault("additive", np.zeros(maps.shape[:2]))
                a += add[..., q]
                if len(text_k) >= 2:
                    w = row[..., text_k]
                    d = np.array([starts[q] - starts[k] for k in text_k])
                    db = sums.setdefault("dist_bytes", np.zeros(maps.shape[:2]))
                    db += (w * d).sum(-1) / w.sum(-1)
                    sums["n_dist"] = sums.get("n_dist", 0) + 1
            # Word frame: project with plain loops (key split by byte overlap, query mean).
            words = unit_spans(rec.text, "word")
            for wq in range(1, len(words)):
                n_w += 1
                toks = [t for t in range(rec.n_tokens) if _overlap(spans[t], words[wq]) > 0]
                raw = np.zeros((*maps.shape[:2], wq + 1))
                for t in toks:
                    for k in range(t + 1):
                        length = spans[k, 1] - spans[k, 0]
                        for wk in range(wq + 1):
                            ov = _overlap(spans[k], words[wk])
                            if ov > 0:
                                raw[..., wk] += maps[..., t, k] * ov / length / len(toks)
                mass = raw.sum(-1)
                m = sums.setdefault("mass", np.zeros(maps.shape[:2]))
                m += mass
                e = sums.setdefault("ent_word", np.zeros(maps.shape[:2]))
                p = raw / mass[..., None]
                e += scipy_entropy(p, axis=-1) / np.log(wq + 1)
            if rec.kind == "repeat":
                n_ind += len(induction_targets(rec)[0])
    grid = heads.sort_values(["layer", "head"])
    shape = sums["sink"].shape

    def col(name):
        return grid[name].to_numpy().reshape(shape)

    assert (grid["n_queries"] == n_q).all() and (grid["n_query_words"] == n_w).all()
    assert (grid["induction_n_queries"] == n_ind).all() and n_ind > 0
    np.testing.assert_allclose(col("sink_score"), sums["sink"] / n_q, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(col("contribution_additive"), sums["additive"] / n_q, rtol=1e-4)
    np.testing.assert_allclose(
        col("distance_bytes"), sums["dist_bytes"] / sums["n_dist"], rtol=1e-5
    )
    np.testing.assert_allclose(col("word_projected_mass"), sums["mass"] / n_w, rtol=1e-5)
    np.testing.assert_allclose(col("entropy_norm_word"), sums["ent_word"] / n_w, rtol=1e-5)


def _overlap(span, unit) -> int:
    return max(0, min(int(span[1]), int(unit[1])) - max(int(span[0]), int(unit[0])))

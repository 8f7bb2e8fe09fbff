"""Jensen–Shannon comparison and head matching between word-level maps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokattn.attention_compare import compare_word_maps, js_divergence
from tokattn.head_analysis import WordMapWriter


def test_js_divergence_bounds():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(js_divergence(p, q), [1.0, 0.0])
    np.testing.assert_allclose(js_divergence(p, p), [0.0, 0.0])


def _write(path, model, seed, maps_by_probe):
    layers, heads = next(iter(maps_by_probe.values())).shape[:2]
    attrs = {"model": model, "seed": seed, "tokenizer": model, "n_layers": layers, "n_heads": heads}
    with WordMapWriter(path, attrs) as w:
        for pid, maps in maps_by_probe.items():
            w.write(pid, maps.astype(np.float32), np.zeros((maps.shape[-1], 2), np.int64))
    return path


def test_head_matching_recovers_a_permutation(tmp_path):
    rng = np.random.default_rng(0)
    probes = {}
    for i in range(3):
        m = np.tril(rng.random((2, 3, 5, 5)) ** 8 + 1e-6)
        probes[f"p{i}"] = m / m.sum(-1, keepdims=True)
    perm = [2, 0, 1]
    permuted = {k: v[:, perm] for k, v in probes.items()}
    a = _write(tmp_path / "a.h5", "byte", 0, probes)
    b = _write(tmp_path / "b.h5", "bpe", 0, permuted)
    c = _write(tmp_path / "c.h5", "bpe", 1, {"p0": probes["p0"][:1]})  # other depth, 1 probe
    df = compare_word_maps([a, b, c], tmp_path / "compare.parquet")
    assert df.equals(pd.read_parquet(tmp_path / "compare.parquet"))
    ab = df[(df.model_b == "bpe") & (df.seed_b == 0)]
    layer = ab[ab.kind == "layer"]
    assert len(layer) == 4 and (layer.n_probes == 3).all()
    # Permuting heads leaves the head mean, so same-layer JS is 0.
    np.testing.assert_allclose(layer[layer.layer_a == layer.layer_b].js, 0, atol=1e-7)
    assert (layer[layer.layer_a != layer.layer_b].js > 1e-3).all()
    match = ab[ab.kind == "head_match"].sort_values(["layer_a", "head_a"])
    assert len(match) == 6
    np.testing.assert_allclose(match.js, 0, atol=1e-7)
    assert (match.layer_a == match.layer_b).all()
    for _, row in match.iterrows():
        assert perm[row.head_b] == row.head_a
    ac = df[df.seed_b == 1]
    assert set(ac.kind) == {"layer", "head_match"} and (ac.n_probes == 1).all()
    assert len(ac) == 2 * (2 * 1 + 3)  # a-c and b-c: 2×1 layer pairs, min(6, 3) matched heads

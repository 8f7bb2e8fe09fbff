"""Jensen–Shannon comparison and head matching between word-level maps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokattn.attention.compare import compare_word_maps, js_divergence
from tokattn.attention.word_maps import WordMapWriter


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


def _write_with_mass(path, model, seed, maps_by_probe, mass_by_probe):
    layers, heads = next(iter(maps_by_probe.values())).shape[:2]
    attrs = {"model": model, "seed": seed, "tokenizer": model, "n_layers": layers, "n_heads": heads}
    with WordMapWriter(path, attrs) as w:
        for pid, maps in maps_by_probe.items():
            units = np.zeros((maps.shape[-1], 2), np.int64)
            w.write(pid, maps.astype(np.float32), units, mass_by_probe[pid])
    return path


def test_js_weighted_by_projected_mass_against_scipy(tmp_path):
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(3)
    maps, mass = {"a": {}, "b": {}}, {"a": {}, "b": {}}
    sizes = {"p0": 5, "p1": 7, "p2": 1}  # p2: one word, nothing to compare
    for run in ("a", "b"):
        for pid, n in sizes.items():
            m = np.tril(rng.random((1, 2, n, n)) ** 4 + 1e-4)
            maps[run][pid] = (m / m.sum(-1, keepdims=True)).astype(np.float32)
            mass[run][pid] = rng.uniform(0.01, 1, (1, 2, n)).astype(np.float32)
    mass["a"]["p1"][0, 1] = 0.01  # head 1 of A is a sink head on p1
    a = _write_with_mass(tmp_path / "a.h5", "byte", 0, maps["a"], mass["a"])
    b = _write_with_mass(tmp_path / "b.h5", "bpe", 0, maps["b"], mass["b"])
    df = compare_word_maps([a, b], tmp_path / "compare.parquet")
    assert (df.n_probes == 2).all() and (df.n_query_words == 4 + 6).all()

    def expected(pick_a, pick_b):
        num = den = plain = ma = mb = 0.0
        count = 0
        for pid in ("p0", "p1"):
            ra, wa = pick_a(maps["a"][pid], mass["a"][pid])
            rb, wb = pick_b(maps["b"][pid], mass["b"][pid])
            for w in range(1, sizes[pid]):  # word 0 (one key) left out
                js = jensenshannon(ra[w], rb[w], base=2) ** 2
                weight = min(wa[w], wb[w])
                num, den, plain = num + weight * js, den + weight, plain + js
                ma, mb, count = ma + wa[w], mb + wb[w], count + 1
        return num / den, plain / count, ma / count, mb / count

    def head(h):
        return lambda m, w: (m[0, h].astype(np.float64), w[0, h])

    def head_mean(m, w):
        # Word map of the head-mean token map: mass-weighted mean of the rows.
        raw = (m[0].astype(np.float64) * w[0][..., None]).mean(0)
        return raw / raw.sum(-1, keepdims=True), w[0].mean(0)

    layer = df[df.kind == "layer"].iloc[0]
    want = expected(head_mean, head_mean)
    np.testing.assert_allclose(
        [layer.js, layer.js_unweighted, layer.mass_a, layer.mass_b], want, rtol=1e-5
    )
    for _, row in df[df.kind == "head_match"].iterrows():
        want = expected(head(row.head_a), head(row.head_b))
        np.testing.assert_allclose(
            [row.js, row.js_unweighted, row.mass_a, row.mass_b], want, rtol=1e-5
        )
    assert (df.js != df.js_unweighted).all()

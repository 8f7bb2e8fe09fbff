"""Cross-tokenizer comparison of word-level attention maps.

Word units come from the text alone, so the word maps of two models on the same probe
have the same shape whatever their tokenizers. For every pair of (model, seed) runs:

- ``kind = "layer"``: Jensen–Shannon divergence (base 2, in [0, 1]) between the
  head-averaged word maps of layer ``layer_a`` of run A and ``layer_b`` of run B, for
  every layer pair (the "same layer" comparison is the diagonal when depths agree;
  ``depth_a``/``depth_b`` give relative depth for models of different depth);
- ``kind = "head_match"``: the one-to-one matching of A's heads to B's heads that
  minimises the summed JS divergence (``scipy.optimize.linear_sum_assignment`` on the
  pairwise head × head JS matrix), one row per matched pair.

Which query words count: word 0 sees only itself, so its row is 1 in every map and its
JS always 0; it (and every probe of a single word) is left out instead of pulling the
mean down for short probes. Word rows are renormalised after the attention on BOS is
dropped, so a head with 99 % on BOS keeps a full-looking row from its 1 %: ``js`` is the
mean over every (shared probe, query word ≥ 1) pair weighted by the mass both rows
actually projected, ``min(mass_a, mass_b)`` (`word_maps.h5` ``projected_mass``).
``js_unweighted`` is the plain mean over the same pairs, and ``mass_a``/``mass_b`` the mean
projected masses (a low value flags a comparison of what little attention left BOS).
Pairs of seeds of the same model are compared too: they are the noise floor.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from tokattn.attention.word_maps import WordMaps

COLUMNS = [
    "kind",
    "model_a",
    "seed_a",
    "model_b",
    "seed_b",
    "layer_a",
    "head_a",
    "layer_b",
    "head_b",
    "depth_a",
    "depth_b",
    "js",
    "js_unweighted",
    "mass_a",
    "mass_b",
    "n_probes",
    "n_query_words",
]


def js_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    """Return the Jensen–Shannon divergence in bits between distributions along `axis`."""
    p, q = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(q, np.float64))
    m = 0.5 * (p + q)

    def kl(x):
        ratio = np.divide(x, m, out=np.ones_like(x), where=(x > 0) & (m > 0))
        return (x * np.log2(ratio)).sum(axis)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


def _word_js_sums(
    maps_a: np.ndarray, mass_a: np.ndarray, maps_b: np.ndarray, mass_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return sums over query words >= 1 for every map pair of [n_a, w, w] and [n_b, w, w].

    Returns (Σ weight·JS, Σ weight, Σ JS, Σ mass_a, Σ mass_b), each [n_a, n_b], with
    weight = min(mass_a, mass_b) per query word.
    """
    n_a, n_b = maps_a.shape[0], maps_b.shape[0]
    out = [np.zeros((n_a, n_b)) for _ in range(5)]
    b, mb = maps_b[:, 1:], mass_b[:, 1:]  # [n_b, w-1, w], [n_b, w-1]
    for i in range(n_a):  # one row of A at a time: memory O(n_b · w²)
        js = js_divergence(maps_a[i, 1:][None], b)  # [n_b, w-1]
        ma = np.broadcast_to(mass_a[i, 1:], mb.shape)
        weight = np.minimum(ma, mb)
        out[0][i] = (weight * js).sum(-1)
        out[1][i] = weight.sum(-1)
        out[2][i] = js.sum(-1)
        out[3][i] = ma.sum(-1)
        out[4][i] = mb.sum(-1)
    return tuple(out)


def pairwise_head_js(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """Return JS [head_a, head_b] averaged over query words >= 1 for maps [head, word, word]."""
    ones_a, ones_b = np.ones(maps_a.shape[:2]), np.ones(maps_b.shape[:2])
    _, _, js_sum, _, _ = _word_js_sums(maps_a, ones_a, maps_b, ones_b)
    return js_sum / max(maps_a.shape[-1] - 1, 1)


def _depth(layer: int, n_layers: int) -> float:
    return (layer + 0.5) / n_layers


def _mass(run: WordMaps, probe: str, maps: np.ndarray) -> np.ndarray:
    mass = run.projected_mass(probe)
    return np.ones(maps.shape[:3], np.float32) if mass is None else mass


class _PairSums:
    """Running sums of `_word_js_sums` over probes."""

    def __init__(self, shape):
        self.parts = [np.zeros(shape) for _ in range(5)]

    def add(self, parts) -> None:
        for acc, part in zip(self.parts, parts, strict=True):
            acc += part

    def means(self, n_words: int) -> dict[str, np.ndarray]:
        wjs, weight, js, ma, mb = self.parts
        n = max(n_words, 1)
        unweighted = js / n
        weighted = np.divide(wjs, weight, out=unweighted.copy(), where=weight > 0)
        return {"js": weighted, "js_unweighted": unweighted, "mass_a": ma / n, "mass_b": mb / n}


def compare_runs(run_a: WordMaps, run_b: WordMaps) -> list[dict]:
    """Return layer and head-match rows for two runs' word maps."""
    attrs_a, attrs_b = run_a.attrs, run_b.attrs
    probes = sorted(set(run_a.probe_ids) & set(run_b.probe_ids))
    la, ha = int(attrs_a["n_layers"]), int(attrs_a["n_heads"])
    lb, hb = int(attrs_b["n_layers"]), int(attrs_b["n_heads"])
    layer_sums, head_sums = _PairSums((la, lb)), _PairSums((la * ha, lb * hb))
    n_words, used = 0, 0
    for probe in probes:
        ma, mb = run_a.maps(probe), run_b.maps(probe)  # [layer, head, word, word]
        if ma.shape[-1] != mb.shape[-1]:
            raise ValueError(
                f"probe {probe}: word counts differ ({ma.shape[-1]} vs {mb.shape[-1]})"
            )
        if ma.shape[-1] < 2:
            continue  # one word: no query with two keys
        wa, wb = _mass(run_a, probe, ma), _mass(run_b, probe, mb)  # [layer, head, word]
        # Head-averaged maps: the mean row's projected mass is the mean of the masses, and
        # its row is the mass-weighted mean of the renormalised rows.
        layer_sums.add(_word_js_sums(*_head_mean(ma, wa), *_head_mean(mb, wb)))
        head_sums.add(
            _word_js_sums(
                ma.reshape(la * ha, *ma.shape[2:]),
                wa.reshape(la * ha, -1),
                mb.reshape(lb * hb, *mb.shape[2:]),
                wb.reshape(lb * hb, -1),
            )
        )
        n_words += ma.shape[-1] - 1
        used += 1
    ids = {
        "model_a": attrs_a["model"],
        "seed_a": int(attrs_a["seed"]),
        "model_b": attrs_b["model"],
        "seed_b": int(attrs_b["seed"]),
        "n_probes": used,
        "n_query_words": n_words,
    }
    rows = []
    if not used:
        return rows
    layer_m, head_m = layer_sums.means(n_words), head_sums.means(n_words)
    for i, j in itertools.product(range(la), range(lb)):
        rows.append(
            {
                **ids,
                "kind": "layer",
                "layer_a": i,
                "head_a": -1,
                "layer_b": j,
                "head_b": -1,
                "depth_a": _depth(i, la),
                "depth_b": _depth(j, lb),
                **{k: float(v[i, j]) for k, v in layer_m.items()},
            }
        )
    for r, c in zip(*linear_sum_assignment(head_m["js"]), strict=True):
        rows.append(
            {
                **ids,
                "kind": "head_match",
                "layer_a": r // ha,
                "head_a": r % ha,
                "layer_b": c // hb,
                "head_b": c % hb,
                "depth_a": _depth(r // ha, la),
                "depth_b": _depth(c // hb, lb),
                **{k: float(v[r, c]) for k, v in head_m.items()},
            }
        )
    return rows


def _head_mean(maps: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the head-mean of un-renormalised rows, renormalised, and its mass [layer, ...]."""
    mean_mass = mass.mean(1)  # [layer, word]
    raw = (maps * mass[..., None]).mean(1)  # [layer, word, word]
    rows = np.divide(raw, mean_mass[..., None], out=maps.mean(1), where=mean_mass[..., None] > 0)
    return rows, mean_mass


def compare_word_maps(word_map_paths: list[str | Path], out_path: str | Path) -> pd.DataFrame:
    """Write compare.parquet for every pair of runs' word_maps.h5 files; return the table."""
    runs = [WordMaps(p) for p in word_map_paths]
    rows = []
    try:
        for a, b in itertools.combinations(runs, 2):
            rows.extend(compare_runs(a, b))
    finally:
        for run in runs:
            run.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, out_path)
    return df

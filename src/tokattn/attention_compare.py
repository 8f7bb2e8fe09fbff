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

JS divergences are averaged over query words, then over probes both runs share.
Pairs of seeds of the same model are compared too: they are the noise floor.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from tokattn.head_analysis import WordMaps

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
    "n_probes",
]


def js_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    """Return the Jensen–Shannon divergence in bits between distributions along `axis`."""
    p, q = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(q, np.float64))
    m = 0.5 * (p + q)

    def kl(x):
        ratio = np.divide(x, m, out=np.ones_like(x), where=(x > 0) & (m > 0))
        return (x * np.log2(ratio)).sum(axis)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


def pairwise_head_js(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """Return JS [head_a, head_b] averaged over query words for maps [head, word, word]."""
    out = np.empty((maps_a.shape[0], maps_b.shape[0]))
    for i, a in enumerate(maps_a):
        out[i] = js_divergence(a[None], maps_b).mean(-1)
    return out


def _depth(layer: int, n_layers: int) -> float:
    return (layer + 0.5) / n_layers


def compare_runs(run_a: WordMaps, run_b: WordMaps) -> list[dict]:
    """Return layer and head-match rows for two runs' word maps."""
    attrs_a, attrs_b = run_a.attrs, run_b.attrs
    probes = sorted(set(run_a.probe_ids) & set(run_b.probe_ids))
    la, ha = int(attrs_a["n_layers"]), int(attrs_a["n_heads"])
    lb, hb = int(attrs_b["n_layers"]), int(attrs_b["n_heads"])
    layer_js = np.zeros((la, lb))
    head_js = np.zeros((la * ha, lb * hb))
    for probe in probes:
        ma, mb = run_a.maps(probe), run_b.maps(probe)  # [layer, head, word, word]
        if ma.shape[-1] != mb.shape[-1]:
            raise ValueError(
                f"probe {probe}: word counts differ ({ma.shape[-1]} vs {mb.shape[-1]})"
            )
        mean_a, mean_b = ma.mean(1), mb.mean(1)  # [layer, word, word]
        layer_js += js_divergence(mean_a[:, None], mean_b[None]).mean(-1)
        head_js += pairwise_head_js(
            ma.reshape(la * ha, *ma.shape[2:]), mb.reshape(lb * hb, *mb.shape[2:])
        )
    n = max(len(probes), 1)
    layer_js, head_js = layer_js / n, head_js / n
    ids = {
        "model_a": attrs_a["model"],
        "seed_a": int(attrs_a["seed"]),
        "model_b": attrs_b["model"],
        "seed_b": int(attrs_b["seed"]),
        "n_probes": len(probes),
    }
    rows = []
    if not probes:
        return rows
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
                "js": float(layer_js[i, j]),
            }
        )
    for r, c in zip(*linear_sum_assignment(head_js), strict=True):
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
                "js": float(head_js[r, c]),
            }
        )
    return rows


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

"""Paired differences over seeds: the t-interval, effect size and verdict of one finding.

The statistics are described in `tokattn.report.findings`; this module holds only the
arithmetic, so it can be checked against scipy directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
DIFFERS, NOISE = "differs", "within seed noise"


def _seed_array(values: Mapping[int, float] | None, n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n)
    out = np.array([values[s] for s in sorted(values)], dtype=np.float64)[:n]
    return np.nan_to_num(out, nan=0.0)


def paired_difference(
    a: Mapping[int, float],
    b: Mapping[int, float] | float,
    confidence: float = CONFIDENCE,
    item_se_a: Mapping[int, float] | None = None,
    item_se_b: Mapping[int, float] | None = None,
) -> dict:
    """Return n, means, mean difference A − B, its t-interval, effect size and verdict.

    `a`, `b`: seed → value; seeds are paired by index after sorting. `b` may be a number
    (a chance level): then every seed of A is compared with it. `item_se_a`/`item_se_b`:
    seed → standard error of that seed's value over items (widens the interval; see the
    module docstring); absent, the interval is the plain t-interval over seed differences.
    """
    va = np.array([a[s] for s in sorted(a)], dtype=np.float64)
    if isinstance(b, Mapping):
        vb = np.array([b[s] for s in sorted(b)], dtype=np.float64)
        n = min(len(va), len(vb))
        va, vb = va[:n], vb[:n]
    else:
        vb = np.full_like(va, float(b))
        n = len(va)
    sa, sb = _seed_array(item_se_a, n), _seed_array(item_se_b, n)
    ok = np.isfinite(va) & np.isfinite(vb)
    va, vb = va[ok], vb[ok]
    item_var = float(np.mean(sa[ok] ** 2 + sb[ok] ** 2)) if ok.any() else 0.0
    n = len(va)
    d = va - vb
    row = {
        "n_seeds": n,
        "mean_a": float(va.mean()) if n else math.nan,
        "mean_b": float(vb.mean()) if n else math.nan,
        "diff": float(d.mean()) if n else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "effect_size": math.nan,
        "verdict": f"not testable ({n} seed{'s' if n != 1 else ''})",
    }
    if n < 2:
        return row
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd <= 1e-12 * max(1.0, float(np.abs(va).max()), float(np.abs(vb).max())):
        sd = 0.0  # rounding noise of identical differences: no spread at all
    se = math.sqrt(sd**2 / n + item_var)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    row["ci_low"], row["ci_high"] = mean - half, mean + half
    if se > 0:
        row["effect_size"] = abs(mean) / (se * math.sqrt(n))
    else:
        row["effect_size"] = math.inf if mean != 0 else 0.0
    row["verdict"] = DIFFERS if (mean - half > 0 or mean + half < 0) else NOISE
    return row


def item_se(low, high) -> float:
    """Standard error from a 95 % bootstrap interval, read as normal (NaN if absent)."""
    try:
        width = float(high) - float(low)
    except (TypeError, ValueError):
        return math.nan
    return width / (2 * float(stats.norm.ppf(0.975))) if math.isfinite(width) else math.nan

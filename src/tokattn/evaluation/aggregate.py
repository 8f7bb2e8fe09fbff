"""Metrics with 95 % bootstrap confidence intervals, per seed and across seeds.

Every metric is a ratio of sums over items, Σ num / Σ den (den = 1 per item for
accuracies; bytes for bits per byte, so bits per byte stays byte-weighted under
resampling), optionally transformed (exp for per-token perplexity).

- Within one seed the CI is a percentile bootstrap over items.
- Across seeds the point estimate is the mean of the n per-seed values; with n ≥ 2 seeds
  the CI is a Student t-interval over seeds widened by the item noise:
  mean ± t(0.975, n − 1) · √(sd²/n + v), with sd the seed standard deviation (ddof = 1)
  and v the mean over seeds of each seed's item-bootstrap variance. Every seed is scored
  on the same items, so item noise does not average out over seeds (v is not divided by
  n); with no item noise this is exactly the textbook t-interval over seeds. A bootstrap
  over seeds is not used: with 2 seeds it can only draw the two values, so it reflects
  neither the seed spread nor its uncertainty (and it is narrower than the t-interval by
  a factor of ≈ 12.7/1.96/√2 for 2 seeds). With 2 seeds t(0.975, 1) = 12.7, so the
  interval is very wide: honest, but not a CI worth reading (the report says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GROUP_COLUMNS = ("subtask", "language", "domain", "distance_bytes")
ALL = "all"


@dataclass(frozen=True)
class Metric:
    """A ratio-of-sums metric over per-item records."""

    name: str
    num: str
    den: str | None = None  # None: one per item (a mean)
    transform: str | None = None  # "exp"

    def finish(self, ratio: np.ndarray | float):
        """Return the metric value from the ratio of sums."""
        return np.exp(ratio) if self.transform == "exp" else ratio


METRICS: dict[str, list[Metric]] = {
    "lm": [
        Metric("bits_per_byte", "nll_bits", "n_bytes"),
        Metric("token_perplexity", "nll_nats", "n_tokens", "exp"),
        Metric("bytes_per_token", "n_bytes", "n_tokens"),
    ],
    "inference": [Metric("accuracy", "correct"), Metric("accuracy_norm", "correct_norm")],
    "memory": [
        Metric("exact_match", "exact_match"),
        Metric("ll_accuracy", "ll_correct"),
        Metric("reciprocal_rank", "reciprocal_rank"),
    ],
    "summarization": [
        Metric("rouge1", "rouge1"),
        Metric("rouge2", "rouge2"),
        Metric("rougeL", "rougeL"),
        Metric("rougeLsum", "rougeLsum"),
        Metric("summary_bytes", "summary_bytes"),
    ],
}

GROUPINGS: dict[str, list[tuple[str, ...]]] = {
    "lm": [(), ("language",), ("domain",)],
    "inference": [(), ("subtask",), ("language",), ("subtask", "language")],
    "memory": [
        (),
        ("distance_bytes",),
        ("subtask", "distance_bytes"),
        ("language",),
        ("language", "distance_bytes"),
    ],
    "summarization": [(), ("subtask",), ("language",)],
}


def _arrays(df: pd.DataFrame, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    num = df[metric.num].to_numpy(dtype=np.float64)
    den = np.ones_like(num) if metric.den is None else df[metric.den].to_numpy(dtype=np.float64)
    return num, den


def _item_replicates(num, den, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Return `n_boot` bootstrap replicates of Σ num / Σ den, resampling items."""
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    d = den[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num[idx].sum(axis=1) / d


def _interval(reps: np.ndarray, confidence: float) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return float(lo), float(hi)


ITEM_BOOTSTRAP_METHOD = "bootstrap items"
SEED_T_METHOD = "t over seeds + item variance"


def _item_variances(reps: np.ndarray) -> np.ndarray:
    """Return per seed the variance of its item-bootstrap replicates [seed, n_boot] (0 if none)."""
    out = []
    for row in reps:
        row = row[np.isfinite(row)]
        out.append(float(row.var(ddof=1)) if len(row) >= 2 else 0.0)
    return np.array(out)


def seed_t_interval(
    values: np.ndarray, item_var: np.ndarray | None = None, confidence: float = 0.95
) -> tuple[float, float]:
    """Return mean ± t(½ + confidence/2, n − 1) · √(sd²/n + mean item variance) over seeds."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < 2 or not np.isfinite(values).all():
        return math.nan, math.nan
    v = 0.0 if item_var is None or not len(item_var) else float(np.nanmean(item_var))
    se = math.sqrt(float(values.var(ddof=1)) / n + v)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    mean = float(values.mean())
    return mean - half, mean + half


def metric_with_ci(
    per_seed: Sequence[tuple[np.ndarray, np.ndarray]],
    metric: Metric,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Return mean over seeds, CI and seed std of a metric given each seed's (num, den)."""
    rng = np.random.default_rng(seed)
    values = np.array([metric.finish(n.sum() / d.sum()) for n, d in per_seed])
    reps = np.stack([metric.finish(_item_replicates(n, d, n_boot, rng)) for n, d in per_seed])
    if len(per_seed) >= 2:
        lo, hi = seed_t_interval(values, _item_variances(reps), confidence)
        method = SEED_T_METHOD
    else:
        lo, hi = _interval(reps[0], confidence)
        method = ITEM_BOOTSTRAP_METHOD
    return {
        "mean": float(values.mean()),
        "ci_low": lo,
        "ci_high": hi,
        "seed_std": float(values.std(ddof=1)) if len(values) >= 2 else math.nan,
        "n_seeds": len(per_seed),
        "n_items": int(sum(len(n) for n, _ in per_seed) / len(per_seed)),
        "ci_method": method,
    }


def _groups(df: pd.DataFrame, cols: tuple[str, ...]) -> Iterable[tuple[dict, pd.Series]]:
    """Yield ({column: value}, row mask) for every group of `cols` (all rows for ())."""
    if not cols:
        yield {}, pd.Series(True, index=df.index)
        return
    if not all(c in df.columns for c in cols):
        return
    keys = df[list(cols)].astype(str)
    for values, sub in keys.groupby(list(cols), sort=True):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(cols, values, strict=True)), df.index.isin(sub.index)


def summarize_task(
    task: str,
    runs: Mapping[object, pd.DataFrame],
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict]:
    """Return one row per metric × group for the per-item records of one model and task.

    `runs` maps a seed to that seed's per-item DataFrame (one seed: CI over items only).
    """
    rows = []
    frames = list(runs.values())
    for cols in GROUPINGS[task]:
        group_keys = {}
        for df in frames:
            for key, mask in _groups(df, cols):
                group_keys.setdefault(tuple(sorted(key.items())), []).append((df, mask))
        for key, members in group_keys.items():
            if len(members) != len(frames):
                continue  # a group some seed lacks (items differ): not comparable
            labels = {c: ALL for c in GROUP_COLUMNS} | dict(key)
            for metric in METRICS[task]:
                if metric.num not in frames[0].columns:
                    continue
                per_seed = [_arrays(df[mask], metric) for df, mask in members]
                if any(len(n) == 0 for n, _ in per_seed):
                    continue
                stats = metric_with_ci(per_seed, metric, n_boot, confidence, seed)
                rows.append({"task": task, "metric": metric.name, **labels, **stats})
    return rows


SUMMARY_COLUMNS = [
    "model",
    "tokenizer",
    "task",
    "metric",
    *GROUP_COLUMNS,
    "n_seeds",
    "n_items",
    "mean",
    "ci_low",
    "ci_high",
    "seed_std",
    "ci_method",
]


def write_summary(
    item_files: Iterable[tuple[str, int, str, str | Path]],
    out_csv: str | Path,
    tokenizers: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Write `summary.csv` (model × task × metric × group, mean over seeds + CI); return it.

    `item_files`: (model, seed, task, path of the per-item JSONL) for every run.
    """
    by_key: dict[tuple[str, str], dict[int, pd.DataFrame]] = {}
    for model, run_seed, task, path in item_files:
        df = pd.read_json(path, lines=True, dtype=False)
        by_key.setdefault((model, task), {})[int(run_seed)] = df
    rows = []
    for (model, task), runs in sorted(by_key.items()):
        for row in summarize_task(task, dict(sorted(runs.items())), n_boot, confidence, seed):
            rows.append({"model": model, "tokenizer": (tokenizers or {}).get(model, ""), **row})
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(f".{out_csv.name}.tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(out_csv)
    return table

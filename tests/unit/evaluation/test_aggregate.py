"""Confidence intervals: item bootstrap within a seed, t-interval over seeds across seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tokattn.evaluation.aggregate import (
    METRICS,
    SEED_T_METHOD,
    metric_with_ci,
    summarize_task,
    write_summary,
)

ACC = METRICS["inference"][0]
BPB = METRICS["lm"][0]


def test_single_seed_item_bootstrap_is_binomial_like():
    rng = np.random.default_rng(0)
    correct = (rng.random(400) < 0.7).astype(float)
    out = metric_with_ci([(correct, np.ones_like(correct))], ACC, n_boot=2000)
    p = correct.mean()
    assert out["mean"] == pytest.approx(p)
    se = math.sqrt(p * (1 - p) / len(correct))
    assert out["ci_low"] == pytest.approx(p - 1.96 * se, abs=0.01)
    assert out["ci_high"] == pytest.approx(p + 1.96 * se, abs=0.01)
    assert out["ci_method"] == "bootstrap items" and out["n_seeds"] == 1
    assert math.isnan(out["seed_std"])


def test_bits_per_byte_is_byte_weighted():
    nll_bits = np.array([100.0, 10.0])
    n_bytes = np.array([100.0, 1000.0])
    out = metric_with_ci([(nll_bits, n_bytes)], BPB, n_boot=200)
    assert out["mean"] == pytest.approx(110 / 1100)  # not the mean of 1.0 and 0.01


def test_seeds_widen_the_interval():
    rng = np.random.default_rng(1)
    seeds = [(rng.random(300) < p).astype(float) for p in (0.5, 0.6, 0.7)]
    runs = [(s, np.ones_like(s)) for s in seeds]
    across = metric_with_ci(runs, ACC, n_boot=2000)
    assert across["mean"] == pytest.approx(np.mean([s.mean() for s in seeds]))
    assert across["ci_method"] == SEED_T_METHOD and across["n_seeds"] == 3
    assert across["seed_std"] == pytest.approx(np.std([s.mean() for s in seeds], ddof=1))
    pooled = metric_with_ci([(np.concatenate(seeds), np.ones(900))], ACC, n_boot=2000)
    width = lambda r: r["ci_high"] - r["ci_low"]  # noqa: E731
    assert width(across) > 2 * width(pooled)
    assert across["ci_low"] <= across["mean"] <= across["ci_high"]


@pytest.mark.parametrize("n_seeds", [2, 3, 5])
def test_across_seeds_is_the_t_interval_when_items_agree(n_seeds):
    # Every item of a seed has the same value: no item noise, so the interval must be
    # exactly scipy's t-interval over the per-seed values (t(0.975, 1) = 12.7 for 2 seeds).
    values = np.array([4.0, 5.04, 4.6, 4.3, 4.9])[:n_seeds]
    runs = [(np.full(50, v), np.ones(50)) for v in values]
    out = metric_with_ci(runs, ACC, n_boot=200)
    low, high = stats.t.interval(
        0.95, n_seeds - 1, loc=values.mean(), scale=stats.sem(values, ddof=1)
    )
    assert out["ci_low"] == pytest.approx(low) and out["ci_high"] == pytest.approx(high)
    assert out["ci_method"] == SEED_T_METHOD


def test_two_seeds_interval_is_not_a_seed_bootstrap():
    # A bootstrap over 2 seeds never leaves [min, max] of the two values plus item noise;
    # the t-interval (12.7 · sd/√2) must be far wider than the seed range.
    values = np.array([4.0, 5.04])
    runs = [(np.full(30, v), np.ones(30)) for v in values]
    out = metric_with_ci(runs, ACC, n_boot=200)
    half = stats.t.ppf(0.975, 1) * values.std(ddof=1) / math.sqrt(2)
    assert out["ci_high"] - out["mean"] == pytest.approx(half)
    assert out["ci_low"] < values.min() - 5 * (values.max() - values.min())


def test_item_noise_widens_the_seed_interval():
    rng = np.random.default_rng(3)
    noisy = [((rng.random(200) < p).astype(float), np.ones(200)) for p in (0.5, 0.55, 0.6)]
    out = metric_with_ci(noisy, ACC, n_boot=2000)
    values = np.array([n.mean() for n, _ in noisy])
    seed_only = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert out["ci_high"] - out["ci_low"] > seed_only[1] - seed_only[0]
    # The item term is the mean binomial variance p(1-p)/n of the seeds (bootstrap ≈ exact).
    v = np.mean(values * (1 - values) / 200)
    half = stats.t.ppf(0.975, 2) * math.sqrt(values.var(ddof=1) / 3 + v)
    assert (out["ci_high"] - out["ci_low"]) / 2 == pytest.approx(half, rel=0.1)


def _records(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(60):
        rows.append(
            {
                "id": f"i{k}",
                "subtask": ["passkey", "associative"][k % 2],
                "language": ["en", "de", "zh"][k % 3],
                "domain": "synthetic",
                "distance_bytes": [64, 256][k % 2 == 0 and k % 4 == 0],
                "exact_match": int(rng.random() < 0.5),
                "ll_correct": int(rng.random() < 0.6),
                "reciprocal_rank": float(rng.random()),
            }
        )
    return pd.DataFrame(rows)


def test_summary_rows_per_group(tmp_path):
    rows = summarize_task("memory", {0: _records(0), 1: _records(1)}, n_boot=200)
    overall = [r for r in rows if r["language"] == "all" and r["distance_bytes"] == "all"]
    assert {r["metric"] for r in overall} >= {"exact_match", "ll_accuracy", "reciprocal_rank"}
    by_lang = {
        r["language"]
        for r in rows
        if r["metric"] == "ll_accuracy" and r["distance_bytes"] == "all" and r["subtask"] == "all"
    }
    assert by_lang == {"all", "en", "de", "zh"}
    assert {r["distance_bytes"] for r in rows} == {"all", "64", "256"}
    assert all(r["n_seeds"] == 2 for r in rows)

    paths = []
    for seed in (0, 1):
        path = tmp_path / f"seed{seed}.jsonl"
        _records(seed).to_json(path, orient="records", lines=True)
        paths.append(("m", seed, "memory", path))
    table = write_summary(paths, tmp_path / "summary.csv", {"m": "tok"}, n_boot=200)
    disk = pd.read_csv(tmp_path / "summary.csv")
    assert len(disk) == len(table) == len(rows)
    assert set(disk["tokenizer"]) == {"tok"} and set(disk["model"]) == {"m"}
    for col in ("mean", "ci_low", "ci_high", "n_seeds", "ci_method", "distance_bytes"):
        assert col in disk.columns

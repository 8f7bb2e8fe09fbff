"""Findings on synthetic runs whose answer is known: differs, seed noise, untestable, not learned."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tokattn.evaluation.tasks.chance import chance_levels, item_chance, item_chance_var
from tokattn.report.findings import compute_findings, write_findings
from tokattn.report.learned_gate import unigram_byte_entropy_bits
from tokattn.report.paired_stats import DIFFERS, NOISE, paired_difference

TEXTS = ["abcabc ab", "the cat sat on the mat", "Zeile über Zeile"]


def _unigram(texts) -> float:
    counts = Counter(b for t in texts for b in t.encode("utf-8"))
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def test_unigram_entropy_matches_counts(tmp_path):
    path = tmp_path / "test.parquet"
    pd.DataFrame({"text": TEXTS}).to_parquet(path)
    assert unigram_byte_entropy_bits(path) == pytest.approx(_unigram(TEXTS), abs=1e-12)
    pd.DataFrame({"text": ["abab"]}).to_parquet(path)
    assert unigram_byte_entropy_bits(path) == pytest.approx(1.0)


def test_ci_is_student_t_over_seed_differences():
    a = {0: 2.0, 1: 2.1, 2: 2.05, 3: 1.98}
    b = {10: 3.0, 11: 3.2, 12: 2.9, 13: 3.1}  # paired by index, not by seed number
    d = np.array([2.0 - 3.0, 2.1 - 3.2, 2.05 - 2.9, 1.98 - 3.1])
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    row = paired_difference(a, b)
    assert row["n_seeds"] == 4
    assert row["diff"] == pytest.approx(d.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["effect_size"] == pytest.approx(abs(d.mean()) / d.std(ddof=1))
    assert row["verdict"] == DIFFERS


def test_verdicts_noise_untestable_and_chance():
    noisy = paired_difference({0: 2.0, 1: 2.3, 2: 1.9}, {0: 2.1, 1: 1.95, 2: 2.2})
    assert noisy["verdict"] == NOISE and noisy["ci_low"] < 0 < noisy["ci_high"]
    one = paired_difference({0: 2.0}, {0: 3.0, 1: 3.1})
    assert one["verdict"] == "not testable (1 seed)" and math.isnan(one["ci_low"])
    vs_chance = paired_difference({0: 0.6, 1: 0.62, 2: 0.58}, 0.25)
    assert vs_chance["verdict"] == DIFFERS and vs_chance["diff"] == pytest.approx(0.35)


def test_chance_levels_from_items():
    assert item_chance("reciprocal_rank", 4) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert item_chance("rouge1", 4) is None
    items = [
        {"subtask": "addition", "choices": ["1", "2", "3", "4"], "answer": 0, "meta": {}},
        {"subtask": "cloze", "choices": ["a", "b"], "answer": 1, "meta": {"correct": [0, 1]}},
    ]
    df = chance_levels("inference", items).set_index(["metric", "subtask"])["chance"]
    assert df[("accuracy", "addition")] == pytest.approx(0.25)
    assert df[("accuracy", "cloze")] == pytest.approx(1.0)
    assert df[("accuracy", "all")] == pytest.approx((0.25 + 1.0) / 2)


# A synthetic run: arms and their per-seed test bits per byte (unigram baseline: 4 bits).
BPB = {
    "good": [1.50, 1.55, 1.52],  # learned, clearly better than "noisy"'s tokenizer twin
    "twin": [2.00, 2.30, 1.90],  # same tokenizer as "noisy"; within seed noise of it
    "noisy": [2.10, 1.95, 2.20],
    "flat": [3.80, 3.85, 3.82],  # did not learn: within 0.5 bits of the unigram entropy
    "solo": [1.60],  # one seed: not testable
}
TOKENIZERS = {"good": "bpe", "twin": "bbpe", "noisy": "bbpe", "flat": "byte", "solo": "bpe"}


def _eval_json(path, arm, seed, task, metrics):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"task": task, "model": arm, "seed": seed, "metrics": metrics}))


def _metric(task, metric, mean, **groups):
    base = {"subtask": "all", "language": "all", "domain": "all", "distance_bytes": "all"}
    return {"task": task, "metric": metric, **base, **groups, "mean": mean}


def _heads(arm, seed, entropy, distance_bytes, sink_token):
    rows = []
    for layer, head in itertools.product(range(2), range(2)):
        rows.append(
            dict(
                model=arm,
                seed=seed,
                tokenizer=TOKENIZERS[arm],
                layer=layer,
                head=head,
                entropy_norm_word=entropy,
                distance_words=1.0,
                distance_bytes=distance_bytes,
                word_projected_mass=0.8,
                sink_score=sink_token,
                entropy_norm_per_token=entropy,
                prev_token_score_per_token=0.3,
                induction_score=0.1,
            )
        )
    return pd.DataFrame(rows)


@pytest.fixture
def run(tmp_path):
    text = "abcdefghijklmnop" * 5  # 16 bytes equally often: exactly 4 bits per byte
    test = tmp_path / "corpus/test.parquet"
    test.parent.mkdir(parents=True)
    pd.DataFrame({"text": [text]}).to_parquet(test)
    eval_runs, heads_paths = [], []
    rng = np.random.default_rng(0)
    for arm, values in BPB.items():
        for seed, bpb in enumerate(values):
            path = tmp_path / f"eval/{arm}/seed{seed}/lm.json"
            metrics = [
                _metric("lm", "bits_per_byte", bpb),
                _metric("lm", "bits_per_byte", bpb + 0.1, language="en"),
                _metric("lm", "bits_per_byte", bpb - 0.1, domain="news"),
            ]
            _eval_json(path, arm, seed, "lm", metrics)
            eval_runs.append((arm, seed, path))
            path = tmp_path / f"eval/{arm}/seed{seed}/inference.json"
            acc = 0.25 + rng.normal(0, 0.01) if arm == "flat" else 0.6 + 0.02 * seed
            _eval_json(path, arm, seed, "inference", [_metric("inference", "accuracy", acc)])
            eval_runs.append((arm, seed, path))
            entropy = 0.99 if arm == "flat" else 0.6
            # "good" attends 10 bytes further than every other arm, with little seed noise
            dist = (20.0 if arm == "good" else 10.0) + 0.1 * seed
            sink = 0.3 + (0.2 if arm == "twin" else 0.0) + 0.01 * seed
            path = tmp_path / f"analysis/{arm}/seed{seed}/heads.parquet"
            path.parent.mkdir(parents=True)
            _heads(arm, seed, entropy, dist, sink).to_parquet(path)
            heads_paths.append(path)
    items = tmp_path / "eval/items/inference.jsonl"
    items.parent.mkdir(parents=True)
    items.write_text(
        "".join(
            json.dumps({"subtask": "addition", "choices": list("abcd"), "answer": 0, "meta": {}})
            + "\n"
            for _ in range(3)
        )
    )
    return dict(
        eval_runs=eval_runs,
        heads_paths=heads_paths,
        item_paths={"inference": items},
        test_parquet=test,
        tokenizers=TOKENIZERS,
        arms=list(BPB),
    )


def _row(findings, measure, group, a, b, frame=None):
    if frame is not None:
        findings = findings[findings["frame"] == frame]
    sel = findings[
        (findings["measure"] == measure)
        & (findings["group"] == group)
        & (findings["arm_a"] == a)
        & (findings["arm_b"] == b)
    ]
    assert len(sel) == 1, (measure, group, a, b, sel)
    return sel.iloc[0]


def test_findings_on_a_synthetic_run(run, tmp_path):
    findings, gate = compute_findings(**run)
    # An arm that truly differs: sign right, CI excludes 0.
    row = _row(findings, "bits per byte", "overall", "good", "noisy")
    assert row["verdict"] == DIFFERS
    assert row["diff"] == pytest.approx(np.mean(BPB["good"]) - np.mean(BPB["noisy"]))
    assert row["ci_high"] < 0
    assert _row(findings, "bits per byte", "language en", "good", "noisy")["verdict"] == DIFFERS
    assert _row(findings, "bits per byte", "domain news", "good", "noisy")["verdict"] == DIFFERS
    # Within seed noise.
    row = _row(findings, "bits per byte", "overall", "twin", "noisy")
    assert row["verdict"] == NOISE and row["ci_low"] < 0 < row["ci_high"]
    # One seed: not testable.
    assert _row(findings, "bits per byte", "overall", "good", "solo")["verdict"] == (
        "not testable (1 seed)"
    )
    # Attention in bytes: "good" attends further than "noisy" in every layer.
    row = _row(findings, "attention distance (bytes)", "layer 1/2", "good", "noisy")
    assert row["verdict"] == DIFFERS and row["diff"] == pytest.approx(10.0)
    # Benchmark against chance: 4 choices → 0.25.
    row = _row(findings, "inference accuracy", "overall", "good", "chance")
    assert row["mean_b"] == pytest.approx(0.25) and row["verdict"] == DIFFERS
    assert _row(findings, "inference accuracy", "overall", "flat", "chance")["verdict"] == NOISE
    # Sorted by effect size, untestable last.
    effects = findings["effect_size"].fillna(-1).to_numpy()
    assert (effects[:-1] >= effects[1:]).all()
    assert findings["verdict"].iloc[-1].startswith("not testable")

    # The gate: "flat" did not learn (both reasons), the others did.
    gate = gate.set_index("arm")
    assert not gate.loc["flat", "learned"]
    assert "unigram" in gate.loc["flat", "reason"] and "entropy" in gate.loc["flat", "reason"]
    assert gate.loc["good", "learned"]
    assert gate.loc["good", "unigram_bits"] == pytest.approx(4.0)
    assert gate.loc["good", "gap_bits"] == pytest.approx(4.0 - np.mean(BPB["good"]))
    flat_attention = findings[
        ((findings["arm_a"] == "flat") | (findings["arm_b"] == "flat"))
        & findings["measure"].isin(["normalised entropy", "attention distance (bytes)"])
    ]
    assert len(flat_attention) and flat_attention["caveat"].str.contains("flat did not learn").all()
    flat_bpb = findings[(findings["arm_a"] == "flat") & (findings["measure"] == "bits per byte")]
    assert (flat_bpb["caveat"] == "").all()  # the gate concerns attention conclusions only

    out = write_findings(findings, gate.reset_index(), tmp_path / "f.csv", tmp_path / "g.csv")
    assert len(pd.read_csv(out[0])) == len(findings)


def test_per_token_measures_only_within_a_tokenizer(run):
    findings, _ = compute_findings(**run)
    per_token = findings[findings["frame"].str.startswith("per token")]
    assert len(per_token)
    for a, b in zip(per_token["arm_a"], per_token["arm_b"], strict=True):
        assert TOKENIZERS[a] == TOKENIZERS[b], (a, b)
    # twin and noisy share a tokenizer: their per-token sink differs by 0.2 in every seed.
    row = _row(findings, "sink mass", "all layers", "twin", "noisy", "per token (same tokenizer)")
    assert row["verdict"] == DIFFERS and row["diff"] == pytest.approx(0.2)
    # good (bpe) vs noisy (bbpe): no per-token row, but the word-frame sink mass is compared.
    sink = findings[
        (findings["measure"] == "sink mass")
        & (findings["arm_a"] == "good")
        & (findings["arm_b"] == "noisy")
    ]
    assert set(sink["frame"]) == {"word frame"}


def test_js_against_the_seed_floor(run):
    rows = []
    arms = {"good": 2, "noisy": 2}
    runs = [(m, s) for m in arms for s in range(3)]
    for (ma, sa), (mb, sb) in itertools.combinations(runs, 2):
        for i, j in itertools.product(range(2), range(2)):
            js = 0.05 + 0.01 * (sa + sb) if ma == mb else (0.4 if i == 0 else 0.06 + 0.01 * sa)
            rows.append(
                dict(
                    kind="layer", model_a=ma, seed_a=sa, model_b=mb, seed_b=sb, layer_a=i,
                    layer_b=j, head_a=-1, head_b=-1, depth_a=(i + 0.5) / 2,
                    depth_b=(j + 0.5) / 2, js=js,
                )
            )  # fmt: skip
    path = run["test_parquet"].parent / "compare.parquet"
    pd.DataFrame(rows).to_parquet(path)
    findings, _ = compute_findings(**{**run, "compare_path": path})
    js = findings[findings["measure"] == "JS divergence vs seed floor"]
    layer0 = js[js["group"].str.startswith("layer 0")].iloc[0]
    assert (layer0["arm_a"], layer0["arm_b"]) == ("good", "noisy")
    assert layer0["verdict"] == DIFFERS and layer0["diff"] > 0.3
    layer1 = js[js["group"].str.startswith("layer 1")].iloc[0]
    assert layer1["verdict"] == NOISE


def test_item_noise_widens_the_interval_of_identical_seeds():
    # Two seeds that score the same on few items: no seed spread, but a wide item CI.
    plain = paired_difference({0: 0.42, 1: 0.42}, 0.34)
    assert plain["verdict"] == DIFFERS and plain["ci_low"] == plain["ci_high"]
    se = 0.44 / (2 * stats.norm.ppf(0.975))  # a 95 % item bootstrap CI [0.20, 0.64]
    row = paired_difference({0: 0.42, 1: 0.42}, 0.34, 0.95, {0: se, 1: se})
    half = stats.t.ppf(0.975, 1) * se
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.08 - half, 0.08 + half))
    assert row["verdict"] == NOISE
    # With seed spread too: sd²/n + mean item variance (both arms' item errors).
    d = np.array([0.5 - 0.3, 0.7 - 0.35, 0.6 - 0.2])
    row = paired_difference(
        {0: 0.5, 1: 0.7, 2: 0.6}, {0: 0.3, 1: 0.35, 2: 0.2}, 0.95, {0: 0.1, 1: 0.1, 2: 0.1},
        {0: 0.05, 1: 0.05, 2: 0.05},
    )  # fmt: skip
    se = math.sqrt(d.var(ddof=1) / 3 + 0.1**2 + 0.05**2)
    assert row["ci_high"] - row["diff"] == pytest.approx(stats.t.ppf(0.975, 2) * se)
    assert row["effect_size"] == pytest.approx(abs(d.mean()) / (se * math.sqrt(3)))


def test_eval_summaries_item_ci_reaches_the_findings(run):
    # Give every per-seed eval summary a huge item CI: good vs noisy no longer "differs".
    for *_, path in run["eval_runs"]:
        summary = json.loads(path.read_text())
        for m in summary["metrics"]:
            m["ci_low"], m["ci_high"] = m["mean"] - 50.0, m["mean"] + 50.0
        path.write_text(json.dumps(summary))
    findings, _ = compute_findings(**run)
    assert _row(findings, "bits per byte", "overall", "good", "noisy")["verdict"] == NOISE
    # Head statistics have no item CI: unchanged.
    row = _row(findings, "attention distance (bytes)", "layer 1/2", "good", "noisy")
    assert row["verdict"] == DIFFERS


def test_chance_variance_and_an_all_wrong_arm_on_few_items(run):
    rr = np.array([1, 1 / 2, 1 / 3])
    assert item_chance_var("reciprocal_rank", 3) == pytest.approx(rr.var())
    assert item_chance_var("accuracy", 4) == pytest.approx(0.25 * 0.75)
    # "flat" answers every one of 4 items wrong in both seeds: its item bootstrap has width 0,
    # but a guesser (p = 0.25) scores 0 of 4 in a third of runs: not below chance.
    for arm, seed, path in run["eval_runs"]:
        if path.name == "inference.json":
            m = _metric("inference", "accuracy", 0.0 if arm == "flat" else 0.6 + 0.02 * seed)
            _eval_json(path, arm, seed, "inference", [{**m, "n_items": 4, "ci_low": m["mean"],
                       "ci_high": m["mean"]}])  # fmt: skip
    findings, _ = compute_findings(**run)
    row = _row(findings, "inference accuracy", "overall", "flat", "chance")
    assert row["diff"] == pytest.approx(-0.25) and row["verdict"] == NOISE
    half = stats.t.ppf(0.975, 2) * math.sqrt(0.25 * 0.75 / 4)
    assert row["ci_high"] == pytest.approx(-0.25 + half)

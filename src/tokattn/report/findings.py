"""Findings: paired differences between arms over seeds, with a verdict, from a run's numbers.

Every finding compares arm A with arm B (or with the task's chance level, or with the
seed-vs-seed floor) on one measure and one group (a language, a domain, a layer):

- the arms' seeds are **paired by seed index** (A's i-th smallest seed with B's i-th), and
  the difference A − B is taken per pair;
- its 95 % CI is a **Student t-interval over the per-pair differences**:
  mean ± t(0.975, n − 1) · sd / √n (sd with ddof = 1), which reflects training (seed)
  noise. Benchmark and bits-per-byte rows also carry the finite item sample: every seed
  is scored on the same items, so item noise does not average out over seeds and is not
  in `sd`; their interval is mean ± t(0.975, n − 1) · √(sd²/n + v), with `v` the mean over
  pairs of se_A² + se_B², se = (ci_high − ci_low) / (2 · 1.96) of that seed's item
  bootstrap (the per-seed eval summary). Without it, two seeds that score the same on a
  dozen items would "differ" from chance with a zero-width interval. Against a chance
  level, the chance side gets se = √(chance_var / n_items), how much a guesser's mean
  over those items varies (a bootstrap of all-wrong answers has width 0);
- verdict: "differs" when the CI excludes 0, "within seed noise" when it does not, and
  "not testable (n seeds)" with fewer than 2 pairs;
- effect size: |mean difference| / √(sd² + n·v) — Cohen's d_z (|mean| / sd of the
  per-pair differences, the paired design's standardised effect) where there is no item
  term; ∞ when every pair differs by the same non-zero amount and v = 0. Rows are sorted by it, largest first, untestable rows last.

Measures per frame:

- per byte: test bits per byte overall, per language, per domain (eval `lm.json`);
- word frame / bytes (tokenizer-independent, compared across every pair of arms): per
  layer (group "layer l/L": only arms of the same depth meet there) and over all layers
  ("all layers": every pair), means over heads of `entropy_norm_word`, `distance_words`, `distance_bytes`
  (bytes, averaged over query tokens) and the word-frame sink mass `1 − word_projected_mass`;
- per token (labelled; only compared between arms that share a tokenizer): `sink_score`,
  `entropy_norm_per_token`, `prev_token_score_per_token`, `induction_score`;
- JS divergence per layer against the seed-vs-seed floor: for seed index i,
  `JS(A_i, B_i) − mean_j≠i (JS(A_i, A_j), JS(B_i, B_j))` (B's layer at the nearest
  relative depth); the floors of different i share runs, so the CI is approximate;
- benchmarks: every chance-level metric of each arm against its chance level
  (`tokattn.evaluation.tasks.chance`), and every benchmark metric between arms.

The **did the models learn?** gate is learned_gate.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from tokattn.evaluation.aggregate import GROUP_COLUMNS
from tokattn.report.figures_compare import same_depth_js
from tokattn.report.learned_gate import bpb_groups, learned_gate, unigram_byte_entropy_bits
from tokattn.report.loading import ReportInputError, load_json, load_table
from tokattn.report.paired_stats import CONFIDENCE, item_se, paired_difference

FINDINGS_COLUMNS = [
    "measure",
    "frame",
    "group",
    "arm_a",
    "arm_b",
    "n_seeds",
    "mean_a",
    "mean_b",
    "diff",
    "ci_low",
    "ci_high",
    "effect_size",
    "verdict",
    "caveat",
]


@dataclass(frozen=True)
class HeadMeasure:
    """A heads.parquet column averaged over the heads of a layer (and over all layers)."""

    column: str
    name: str
    frame: str  # "word frame", "bytes" or "per token"
    transform: str | None = None  # "one_minus"

    @property
    def per_token(self) -> bool:
        return self.frame == "per token"


HEAD_MEASURES = [
    HeadMeasure("entropy_norm_word", "normalised entropy", "word frame"),
    HeadMeasure("distance_words", "attention distance (words)", "word frame"),
    HeadMeasure("distance_bytes", "attention distance (bytes)", "bytes"),
    HeadMeasure("word_projected_mass", "sink mass", "word frame", "one_minus"),
    HeadMeasure("sink_score", "sink mass", "per token"),
    HeadMeasure("entropy_norm_per_token", "normalised entropy", "per token"),
    HeadMeasure("prev_token_score_per_token", "previous-token score", "per token"),
    HeadMeasure("induction_score", "induction score", "per token"),
]


def eval_metrics(runs: Iterable[tuple[str, int, str | Path]]) -> pd.DataFrame:
    """Return one row per (arm, seed, metric, group): value, item_se, n_items.

    `runs`: (arm, seed, path of eval/{arm}/seed{seed}/{task}.json) — the per-seed summaries.
    """
    rows = []
    for arm, seed, path in runs:
        summary = load_json(path)
        if "metrics" not in summary or "task" not in summary:
            raise ReportInputError(f"{path}: no 'task'/'metrics' keys (not an eval summary)")
        for m in summary["metrics"]:
            rows.append(
                {
                    "arm": arm,
                    "seed": int(seed),
                    "task": summary["task"],
                    "metric": m["metric"],
                    **{k: str(m.get(k, "all")) for k in GROUP_COLUMNS},
                    "value": float(m["mean"]),
                    "item_se": item_se(m.get("ci_low"), m.get("ci_high")),
                    "n_items": float(m.get("n_items", math.nan)),
                }
            )
    columns = ["arm", "seed", "task", "metric", *GROUP_COLUMNS, "value", "item_se", "n_items"]
    return pd.DataFrame(rows, columns=columns)


def _by_seed(df: pd.DataFrame, value: str = "value") -> dict[int, float]:
    return {int(s): float(v) for s, v in df.groupby("seed")[value].mean().items()}


def _layer_table(heads: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, seed, group) the mean over heads of every head measure; groups: layers and all."""
    frames = []
    for measure in HEAD_MEASURES:
        if measure.column not in heads.columns:
            continue
        values = heads[measure.column].astype(float)
        if measure.transform == "one_minus":
            values = 1.0 - values
        df = heads.assign(value=values, measure=measure.name, frame=measure.frame)
        n_layers = df.groupby("arm")["layer"].transform("max") + 1
        per_layer = df.assign(group="layer " + df["layer"].astype(str) + "/" + n_layers.astype(str))
        everything = df.assign(group="all layers")
        for part in (per_layer, everything):
            frames.append(
                part.groupby(["arm", "seed", "measure", "frame", "group"], as_index=False)[
                    "value"
                ].mean()
            )
    columns = ["arm", "seed", "measure", "frame", "group", "value"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _chance_se(arm_rows: pd.DataFrame, level: pd.DataFrame) -> dict[int, float]:
    """Seed → how much a guesser's mean varies over that seed's items: √(chance_var / n)."""
    var = float(level["chance_var"].iloc[0]) if "chance_var" in level else math.nan
    n = arm_rows.groupby("seed")["n_items"].mean() if "n_items" in arm_rows else pd.Series()
    return {
        int(seed): math.sqrt(var / k) if k > 0 and math.isfinite(var) else math.nan
        for seed, k in n.items()
    }


def _pair_rows(table, measure, frame, group, arms, tokenizers, attention) -> list[dict]:
    rows = []
    per_arm = {arm: _by_seed(sub) for arm, sub in table.groupby("arm")}
    has_se = "item_se" in table.columns
    se = {arm: _by_seed(sub, "item_se") for arm, sub in table.groupby("arm")} if has_se else {}
    for a, b in combinations([x for x in arms if x in per_arm], 2):
        if frame == "per token" and tokenizers.get(a) != tokenizers.get(b):
            continue  # per-token measures mean different units under different tokenizers
        rows.append(
            {
                "measure": measure,
                "frame": frame,
                "group": group,
                "arm_a": a,
                "arm_b": b,
                "attention": attention,
                **paired_difference(per_arm[a], per_arm[b], CONFIDENCE, se.get(a), se.get(b)),
            }
        )
    return rows


def js_floor_rows(compare: pd.DataFrame, arms: Sequence[str]) -> list[dict]:
    """Return per arm pair and layer of A the cross-arm JS against the seed-vs-seed floor."""
    if compare is None or not len(compare) or not (compare["kind"] == "layer").any():
        return []
    js = same_depth_js(compare)
    within = js[js["model_a"] == js["model_b"]]
    rows = []
    for a, b in combinations(arms, 2):
        lo, hi = sorted((a, b))
        cross = js[(js["model_a"] == lo) & (js["model_b"] == hi)]
        if cross.empty:
            continue
        # Pair by seed index: A's i-th seed with B's i-th seed.
        seeds_lo = sorted(set(cross["seed_a"]))
        seeds_hi = sorted(set(cross["seed_b"]))
        for layer, sel in cross.groupby("layer_a"):
            depth = float(sel["depth_a"].iloc[0])
            cross_by_i, floor_by_i = {}, {}
            for i, (s_lo, s_hi) in enumerate(zip(seeds_lo, seeds_hi, strict=False)):
                hit = sel[(sel["seed_a"] == s_lo) & (sel["seed_b"] == s_hi)]
                if hit.empty:
                    continue
                cross_by_i[i] = float(hit["js"].mean())
                floors = []
                for model, seed in ((lo, s_lo), (hi, s_hi)):
                    w = within[(within["model_a"] == model)]
                    w = w[(w["seed_a"] == seed) | (w["seed_b"] == seed)]
                    w = w.assign(gap=(w["depth_a"] - depth).abs())
                    if len(w):
                        floors.append(float(w[w["gap"] == w["gap"].min()]["js"].mean()))
                floor_by_i[i] = float(np.mean(floors)) if floors else math.nan
            result = paired_difference(cross_by_i, floor_by_i)
            rows.append(
                {
                    "measure": "JS divergence vs seed floor",
                    "frame": "word frame",
                    "group": f"layer {int(layer)} (depth {depth:.2f} of {lo})",
                    "arm_a": lo,
                    "arm_b": hi,
                    "attention": True,
                    **result,
                }
            )
    return rows


def findings_table(
    evals: pd.DataFrame,
    heads: pd.DataFrame,
    compare: pd.DataFrame | None,
    chance: pd.DataFrame,
    gate: pd.DataFrame,
    tokenizers: Mapping[str, str],
    arms: Sequence[str],
) -> pd.DataFrame:
    """Return every finding (columns FINDINGS_COLUMNS), largest effect first."""
    rows: list[dict] = []
    if len(evals):
        for group, sub in bpb_groups(evals).groupby("group", sort=True):
            rows += _pair_rows(sub, "bits per byte", "per byte", group, arms, tokenizers, False)
        bench = evals[(evals["task"] != "lm") & (evals["language"] == "all")]
        bench = bench[(bench["domain"] == "all") & (bench["distance_bytes"] == "all")]
        for (task, metric, subtask), sub in bench.groupby(["task", "metric", "subtask"]):
            measure = f"{task} {metric}"
            group = "overall" if subtask == "all" else f"subtask {subtask}"
            rows += _pair_rows(sub, measure, "benchmark", group, arms, tokenizers, False)
            level = chance[
                (chance["task"] == task)
                & (chance["metric"] == metric)
                & (chance["subtask"] == subtask)
            ]
            if len(level) and level["chance"].notna().all():
                for arm, arm_rows in sub.groupby("arm"):
                    rows.append(
                        {
                            "measure": measure,
                            "frame": "benchmark",
                            "group": group,
                            "arm_a": arm,
                            "arm_b": "chance",
                            "attention": False,
                            **paired_difference(
                                _by_seed(arm_rows),
                                float(level["chance"].iloc[0]),
                                CONFIDENCE,
                                _by_seed(arm_rows, "item_se"),
                                _chance_se(arm_rows, level),
                            ),
                        }
                    )
    if len(heads):
        layers = _layer_table(heads)
        for (measure, frame, group), sub in layers.groupby(["measure", "frame", "group"]):
            rows += _pair_rows(sub, measure, frame, group, arms, tokenizers, True)
    rows += js_floor_rows(compare, arms)
    table = pd.DataFrame(rows, columns=[*FINDINGS_COLUMNS, "attention"])
    not_learned = {
        arm
        for arm, ok in zip(gate["arm"], gate["learned"], strict=True)
        if ok is not None and not pd.isna(ok) and not ok
    }
    table["caveat"] = [
        "; ".join(
            f"no attention conclusion: {arm} did not learn"
            for arm in (a, b)
            if attention and arm in not_learned
        )
        for a, b, attention in zip(table["arm_a"], table["arm_b"], table["attention"], strict=True)
    ]
    table["frame"] = table["frame"].where(
        table["frame"] != "per token", "per token (same tokenizer)"
    )
    order = table["effect_size"].fillna(-1.0)
    table = table.assign(_order=order).sort_values(
        ["_order", "measure", "group", "arm_a", "arm_b"],
        ascending=[False, True, True, True, True],
        kind="stable",
    )
    return table[FINDINGS_COLUMNS].reset_index(drop=True)


def compute_findings(
    eval_runs: Iterable[tuple[str, int, str | Path]] = (),
    heads_paths: Iterable[str | Path] = (),
    compare_path: str | Path | None = None,
    item_paths: Mapping[str, str | Path] | None = None,
    test_parquet: str | Path | None = None,
    tokenizers: Mapping[str, str] | None = None,
    arms: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (findings, gate) from a run's files; `item_paths`: task → eval items JSONL."""
    from tokattn.evaluation.tasks.chance import chance_levels
    from tokattn.evaluation.tasks.items import read_jsonl

    evals = eval_metrics(eval_runs)
    frames = [load_table(p, required=("model", "seed", "layer", "head")) for p in heads_paths]
    heads = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(heads):
        heads = heads.rename(columns={"model": "arm"})
    compare = (
        load_table(compare_path, required=("kind", "model_a", "model_b", "js"))
        if compare_path
        else None
    )
    chance = pd.concat(
        [chance_levels(task, read_jsonl(path)) for task, path in (item_paths or {}).items()]
        or [pd.DataFrame(columns=["task", "metric", "subtask", "chance", "chance_var"])],
        ignore_index=True,
    )
    tok = dict(tokenizers or {})
    if len(heads) and "tokenizer" in heads.columns:
        for arm, name in heads.groupby("arm")["tokenizer"].first().items():
            tok.setdefault(arm, name)
    if arms is None:
        arms = list(dict.fromkeys([*evals["arm"], *(heads["arm"] if len(heads) else [])]))
    unigram = unigram_byte_entropy_bits(test_parquet) if test_parquet else None
    gate = learned_gate(evals, heads, unigram, arms)
    return findings_table(evals, heads, compare, chance, gate, tok, arms), gate


def write_findings(
    findings: pd.DataFrame, gate: pd.DataFrame, findings_csv: str | Path, gate_csv: str | Path
) -> tuple[Path, Path]:
    """Write the findings and the gate as CSV files (temp + rename); return their paths."""
    out = []
    for df, path in ((findings, findings_csv), (gate, gate_csv)):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(path)
        out.append(path)
    return out[0], out[1]

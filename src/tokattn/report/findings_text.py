"""The Findings section's text and tables, generated from findings.csv and learned_gate.csv."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from tokattn.report.findings import FINDINGS_COLUMNS
from tokattn.report.learned_gate import GATE_BPB_MARGIN_BITS, GATE_MAX_MEDIAN_ENTROPY
from tokattn.report.paired_stats import DIFFERS, NOISE


def not_learned(gate: pd.DataFrame | None) -> dict[str, str]:
    """Return arm → why the gate says it did not learn (arms that passed are absent)."""
    if gate is None or gate.empty:
        return {}
    out = {}
    for arm, learned, reason in zip(gate["arm"], gate["learned"], gate["reason"], strict=True):
        if isinstance(learned, str):
            learned = {"true": True, "false": False}.get(learned.lower())
        if learned is not None and not pd.isna(learned) and not bool(learned):
            out[str(arm)] = str(reason)
    return out


def attention_warning(arms: Mapping[str, str]) -> str:
    """Return the warning attention figures carry for arms that did not learn ('' if none)."""
    if not arms:
        return ""
    names = ", ".join(sorted(arms))
    return (
        f"Warning: {names} did not learn (see Findings); no attention conclusion holds for "
        f"{'this arm' if len(arms) == 1 else 'these arms'}."
    )


def _num(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.3g}"


def finding_sentence(row: Mapping) -> str:
    """Return one finding as a sentence: measure, arms, difference with CI, seeds, verdict."""
    where = "" if row["group"] in ("overall", "all layers") else f", {row['group']}"
    b = "chance" if row["arm_b"] == "chance" else row["arm_b"]
    text = (
        f"{row['measure']} ({row['frame']}{where}): {row['arm_a']} − {b} = {_num(row['diff'])}"
        f" [95 % CI {_num(row['ci_low'])}, {_num(row['ci_high'])}] over {row['n_seeds']} "
        f"paired seeds ({_num(row['mean_a'])} vs {_num(row['mean_b'])}; effect size "
        f"{_num(row['effect_size'])}): {row['verdict']}."
    )
    caveat = row.get("caveat")
    if isinstance(caveat, str) and caveat:
        text += f" Caveat: {caveat}."
    return text


def findings_sentences(
    findings: pd.DataFrame, gate: pd.DataFrame | None, top: int = 12
) -> list[str]:
    """Return the Findings section's sentences: the gate, the counts, the largest differences."""
    out = []
    failed = not_learned(gate)
    if gate is not None and len(gate):
        for row in gate.itertuples(index=False):
            if row.arm in failed:
                out.append(
                    f"{row.arm} did not learn: {row.reason}. No attention conclusion holds for "
                    f"{row.arm}; its attention rows below carry this caveat."
                )
        passed = sorted(
            set(gate["arm"]) - set(failed) - set(gate.loc[gate["learned"].isna(), "arm"])
        )
        if passed:
            out.append(
                f"Learned (test bits per byte more than {GATE_BPB_MARGIN_BITS} bits below the "
                f"test split's unigram byte entropy and median word-frame entropy at most "
                f"{GATE_MAX_MEDIAN_ENTROPY}): {', '.join(passed)}."
            )
    if findings.empty:
        out.append("No comparison could be made (one arm, or no numbers).")
        return out
    verdicts = findings["verdict"]
    untestable = verdicts.str.startswith("not testable")
    out.append(
        f"{len(findings)} comparisons: {(verdicts == DIFFERS).sum()} differ (95 % CI of the "
        f"paired seed difference excludes 0), {(verdicts == NOISE).sum()} within seed noise, "
        f"{untestable.sum()} not testable (fewer than 2 paired seeds)."
    )
    differs = findings[(verdicts == DIFFERS) & (findings["caveat"].fillna("") == "")]
    for row in differs.head(top).to_dict("records"):
        out.append(finding_sentence(row))
    if len(differs) > top:
        out.append(f"… and {len(differs) - top} more differences in findings.csv.")
    return out


# The table on the page leaves out the two arms' means (findings.csv has them).
DISPLAY_COLUMNS = [c for c in FINDINGS_COLUMNS if c not in ("mean_a", "mean_b")]


def findings_display(findings: pd.DataFrame, verdict: str, top: int = 30) -> pd.DataFrame:
    """Return the first `top` rows of one verdict (by effect size) with the shown columns."""
    rows = findings[findings["verdict"].astype(str).str.startswith(verdict)]
    return rows[[c for c in DISPLAY_COLUMNS if c in rows.columns]].head(top)

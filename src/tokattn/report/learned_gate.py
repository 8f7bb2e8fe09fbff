"""The report's **did the models learn?** gate (learned_gate.csv), from a run's numbers.

The **did the models learn?** gate fails an arm whose test bits per byte (mean over
seeds) is within 0.5 bits of the test split's order-0 byte entropy, or whose median
word-frame normalised entropy over all heads and seeds is above 0.95 (near-uniform
attention): no attention conclusion holds for it, and its attention rows carry a caveat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tokattn.report.loading import ReportInputError

GATE_BPB_MARGIN_BITS = 0.5
GATE_MAX_MEDIAN_ENTROPY = 0.95

GATE_COLUMNS = [
    "arm",
    "test_bpb",
    "unigram_bits",
    "gap_bits",
    "median_entropy_norm_word",
    "learned",
    "reason",
]


def unigram_byte_entropy_bits(test_parquet: str | Path, column: str = "text") -> float:
    """Return the order-0 (unigram) entropy of the UTF-8 bytes of a corpus split, bits per byte."""
    import pyarrow.parquet as pq

    path = Path(test_parquet)
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file (run the corpus stage)")
    counts = np.zeros(256, np.int64)
    for text in pq.read_table(path, columns=[column]).column(column).to_pylist():
        if text:
            counts += np.bincount(np.frombuffer(text.encode("utf-8"), np.uint8), minlength=256)
    total = counts.sum()
    if not total:
        raise ReportInputError(f"{path}: no text bytes to estimate the unigram entropy from")
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def bpb_groups(evals: pd.DataFrame) -> pd.DataFrame:
    """Bits per byte rows overall and per language or per domain, with a group label."""
    lm = evals[(evals["task"] == "lm") & (evals["metric"] == "bits_per_byte")]
    lang, dom = lm["language"] != "all", lm["domain"] != "all"
    lm = lm[~(lang & dom)]
    group = np.where(lang, "language " + lm["language"], "overall")
    group = np.where(dom, "domain " + lm["domain"], group)
    return lm.assign(group=group)


def learned_gate(
    evals: pd.DataFrame, heads: pd.DataFrame, unigram_bits: float | None, arms: Sequence[str]
) -> pd.DataFrame:
    """Return one row per arm: test bits per byte, baseline, gap, median entropy, learned, why."""
    bpb = bpb_groups(evals) if len(evals) else pd.DataFrame(columns=["arm", "group", "value"])
    bpb = bpb[bpb["group"] == "overall"]
    rows = []
    for arm in arms:
        test = bpb.loc[bpb["arm"] == arm, "value"]
        test_bpb = float(test.mean()) if len(test) else math.nan
        ent = heads.loc[heads["arm"] == arm, "entropy_norm_word"] if len(heads) else []
        ent = pd.Series(ent, dtype=float).dropna()
        median = float(ent.median()) if len(ent) else math.nan
        gap = unigram_bits - test_bpb if unigram_bits is not None else math.nan
        reasons = []
        if np.isfinite(gap) and gap < GATE_BPB_MARGIN_BITS:
            reasons.append(
                f"test bits per byte {test_bpb:.3f} is within {GATE_BPB_MARGIN_BITS} bits of "
                f"the unigram byte entropy {unigram_bits:.3f}"
            )
        if np.isfinite(median) and median > GATE_MAX_MEDIAN_ENTROPY:
            reasons.append(
                f"median normalised word-frame entropy {median:.3f} > "
                f"{GATE_MAX_MEDIAN_ENTROPY} (near-uniform attention)"
            )
        known = np.isfinite(gap) or np.isfinite(median)
        rows.append(
            {
                "arm": arm,
                "test_bpb": test_bpb,
                "unigram_bits": math.nan if unigram_bits is None else unigram_bits,
                "gap_bits": gap,
                "median_entropy_norm_word": median,
                "learned": (not reasons) if known else None,
                "reason": "; ".join(reasons)
                if reasons
                else ("" if known else "no test bits per byte or head statistics"),
            }
        )
    return pd.DataFrame(rows, columns=GATE_COLUMNS)

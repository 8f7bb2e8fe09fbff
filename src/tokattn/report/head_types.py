"""Head types that emerged: per arm, the best head and the count of heads above a threshold.

Four known head types, each read from one column of heads.parquet (means over every
probe, `tokattn.attention.head_analysis`):

- previous token: `prev_token_score_per_token` (per token: with a byte tokenizer the
  previous token is the previous byte, so compare it only within a tokenizer);
- previous word: `prev_word_score` (word frame: comparable across tokenizers);
- sink: `sink_score`, the attention mass on BOS (per token);
- induction: `induction_score` on the repeat probes (per token; `induction_n_queries`
  tokens scored per seed, which depends on the tokenizer).

Per arm and seed the best head is the one with the largest score; the table gives it
per seed (layer.head and score), the mean over seeds of the best score, and the number
of heads at or above the type's threshold (mean over seeds, and per seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Thresholds. Uniform attention over k visible keys puts 1/k on each key, at most 1/2
# (the second token) and far less for later queries, so a majority threshold means the head
# prefers that one key over all the others together, whatever the tokenizer's k.
PREV_TOKEN_THRESHOLD = 0.5  # more on the previous token than on every other key together
PREV_WORD_THRESHOLD = 0.5  # more on the previous word than on every other word together
SINK_THRESHOLD = 0.5  # more parked on BOS than spread over the text
# Induction queries sit in the second copy of a repeated span (about half the probe, many
# words: tokattn.attention.probes), so each sees the whole first copy, itself and BOS: uniform
# attention gives the target ≤ 1/(words of the span + 2), ≤ 0.2 for spans of 3+ words.
INDUCTION_THRESHOLD = 0.3


@dataclass(frozen=True)
class HeadType:
    """A known head type: its name, heads.parquet column, frame and threshold."""

    name: str
    column: str
    frame: str
    threshold: float


HEAD_TYPES = (
    HeadType("previous token", "prev_token_score_per_token", "per token", PREV_TOKEN_THRESHOLD),
    HeadType("previous word", "prev_word_score", "word frame", PREV_WORD_THRESHOLD),
    HeadType("sink (BOS mass)", "sink_score", "per token", SINK_THRESHOLD),
    HeadType("induction", "induction_score", "per token", INDUCTION_THRESHOLD),
)
HEAD_TYPE_COLUMNS = [
    "arm",
    "head type",
    "frame",
    "threshold",
    "best score (mean over seeds)",
    "best head per seed",
    "heads ≥ threshold (mean)",
    "heads ≥ threshold per seed",
    "heads per seed",
    "induction queries per seed",
]


def _per_seed(values: Sequence, fmt: str) -> str:
    return "; ".join(fmt.format(*v) if isinstance(v, tuple) else fmt.format(v) for v in values)


def head_types_table(heads: pd.DataFrame, arms: Sequence[str] | None = None) -> pd.DataFrame:
    """Return one row per arm × head type (columns HEAD_TYPE_COLUMNS); `heads`: heads.parquet rows.

    The arm is the `model` column (or `arm`). Head types whose column is absent or empty
    for an arm are left out.
    """
    if heads is None or not len(heads):
        return pd.DataFrame(columns=HEAD_TYPE_COLUMNS)
    arm_col = "model" if "model" in heads.columns else "arm"
    arms = list(dict.fromkeys(heads[arm_col])) if arms is None else list(arms)
    rows = []
    for arm in arms:
        sub = heads[heads[arm_col] == arm]
        for kind in HEAD_TYPES:
            if kind.column not in sub.columns or sub[kind.column].isna().all():
                continue
            best, counts, n_heads, queries = [], [], [], []
            for seed, run in sorted(sub.groupby("seed"), key=lambda item: item[0]):
                scores = run[kind.column].astype(float)
                if scores.isna().all():
                    continue
                top = run.loc[scores.idxmax()]
                best.append((int(seed), int(top["layer"]), int(top["head"]), float(scores.max())))
                counts.append(int((scores >= kind.threshold).sum()))
                n_heads.append(len(run))
                if kind.column == "induction_score" and "induction_n_queries" in run:
                    queries.append(int(run["induction_n_queries"].max()))
            if not best:
                continue
            rows.append(
                {
                    "arm": arm,
                    "head type": kind.name,
                    "frame": kind.frame,
                    "threshold": kind.threshold,
                    "best score (mean over seeds)": float(np.mean([b[3] for b in best])),
                    "best head per seed": _per_seed(best, "seed {0}: L{1}.H{2} {3:.2f}"),
                    "heads ≥ threshold (mean)": float(np.mean(counts)),
                    "heads ≥ threshold per seed": _per_seed(counts, "{}"),
                    "heads per seed": _per_seed(sorted(set(n_heads)), "{}"),
                    "induction queries per seed": _per_seed(queries, "{}") if queries else "",
                }
            )
    return pd.DataFrame(rows, columns=HEAD_TYPE_COLUMNS)


def head_types_note() -> str:
    """Return the sentence that states the thresholds and the frames."""
    limits = ", ".join(f"{k.name} {k.threshold:g}" for k in HEAD_TYPES)
    return (
        "Best head per arm and seed (layer.head, score) and the number of heads at or above "
        f"a threshold ({limits}). Uniform attention over k visible keys gives 1/k to each, "
        "at most 1/2 and far less for later queries, so 0.5 means the head prefers that key "
        "over all the others together; an induction query sees the whole first copy of a "
        "span of several words, itself and BOS (uniform ≤ 0.2). "
        "Scores are means over every probe (induction: the repeat probes). Per-token types "
        "are in each tokenizer's own units (with a byte tokenizer the previous token is the "
        "previous byte) and are not compared across tokenizers; previous word is."
    )

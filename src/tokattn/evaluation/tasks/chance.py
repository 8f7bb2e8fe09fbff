"""Chance levels of the benchmark metrics: what a model that guesses uniformly scores.

Multiple-choice metrics (inference `accuracy` / `accuracy_norm`, memory `ll_accuracy`)
pick the choice with the highest (normalised) log-likelihood, so a guesser is right with
probability `n_correct / n_choices` per item; memory `reciprocal_rank` of a uniformly
random ranking has expectation `H(n) / n` (`H` the harmonic number). Greedy `exact_match`
generates free text: its chance level is 0. ROUGE has no chance level (a summary that
copies the document already scores well above 0), so none is given.

`chance_var` is the per-item variance of a guesser's score (p(1 − p) for a hit,
E[RR²] − E[RR]² for the reciprocal rank): over n items a guesser's mean varies by
√(chance_var / n), which is how far from chance a score must be before it says anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from tokattn.evaluation.tasks.items import Item

ALL = "all"


def item_chance(metric: str, n_choices: int, n_correct: int = 1) -> float | None:
    """Return the expected score of a uniform guesser on one item (None: no chance level)."""
    if metric in ("accuracy", "accuracy_norm", "ll_accuracy"):
        return min(n_correct, n_choices) / n_choices
    if metric == "reciprocal_rank":
        return sum(1.0 / k for k in range(1, n_choices + 1)) / n_choices
    if metric == "exact_match":
        return 0.0
    return None


def item_chance_var(metric: str, n_choices: int, n_correct: int = 1) -> float | None:
    """Return the variance of a uniform guesser's score on one item (None: no chance level)."""
    if metric in ("accuracy", "accuracy_norm", "ll_accuracy"):
        p = min(n_correct, n_choices) / n_choices
        return p * (1 - p)
    if metric == "reciprocal_rank":
        mean = item_chance(metric, n_choices)
        return sum(1.0 / k**2 for k in range(1, n_choices + 1)) / n_choices - mean**2
    if metric == "exact_match":
        return 0.0
    return None


CHANCE_METRICS = {
    "inference": ("accuracy", "accuracy_norm"),
    "memory": ("ll_accuracy", "reciprocal_rank", "exact_match"),
}


def chance_levels(task: str, items: Iterable[Item | Mapping]) -> pd.DataFrame:
    """Return [task, metric, subtask, chance, chance_var]: item means, overall ("all") and per subtask."""
    rows = []
    for item in items:
        get = item.get if isinstance(item, Mapping) else lambda k, i=item: getattr(i, k)
        n_choices = len(get("choices"))
        n_correct = len((get("meta") or {}).get("correct", [get("answer")]))
        for metric in CHANCE_METRICS.get(task, ()):
            rows.append(
                {
                    "metric": metric,
                    "subtask": get("subtask"),
                    "chance": item_chance(metric, n_choices, n_correct),
                    "chance_var": item_chance_var(metric, n_choices, n_correct),
                }
            )
    columns = ["task", "metric", "subtask", "chance", "chance_var"]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows)
    value = ["chance", "chance_var"]
    overall = df.groupby("metric", as_index=False)[value].mean().assign(subtask=ALL)
    per_sub = df.groupby(["metric", "subtask"], as_index=False)[value].mean()
    return pd.concat([overall, per_sub], ignore_index=True).assign(task=task)[columns]

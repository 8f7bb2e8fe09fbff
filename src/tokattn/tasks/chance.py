"""Chance levels of the benchmark metrics: what a model that guesses uniformly scores.

Multiple-choice metrics (inference `accuracy` / `accuracy_norm`, memory `ll_accuracy`)
pick the choice with the highest (normalised) log-likelihood, so a guesser is right with
probability `n_correct / n_choices` per item; memory `reciprocal_rank` of a uniformly
random ranking has expectation `H(n) / n` (`H` the harmonic number). Greedy `exact_match`
generates free text: its chance level is 0. ROUGE has no chance level (a summary that
copies the document already scores well above 0), so none is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from tokattn.tasks.items import Item

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


CHANCE_METRICS = {
    "inference": ("accuracy", "accuracy_norm"),
    "memory": ("ll_accuracy", "reciprocal_rank", "exact_match"),
}


def chance_levels(task: str, items: Iterable[Item | Mapping]) -> pd.DataFrame:
    """Return [task, metric, subtask, chance]: mean item chance, overall ("all") and per subtask."""
    rows = []
    for item in items:
        get = item.get if isinstance(item, Mapping) else lambda k, i=item: getattr(i, k)
        n_choices = len(get("choices"))
        n_correct = len((get("meta") or {}).get("correct", [get("answer")]))
        for metric in CHANCE_METRICS.get(task, ()):
            value = item_chance(metric, n_choices, n_correct)
            rows.append({"metric": metric, "subtask": get("subtask"), "chance": value})
    columns = ["task", "metric", "subtask", "chance"]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows)
    overall = df.groupby("metric", as_index=False)["chance"].mean().assign(subtask=ALL)
    per_sub = df.groupby(["metric", "subtask"], as_index=False)["chance"].mean()
    return pd.concat([overall, per_sub], ignore_index=True).assign(task=task)[columns]

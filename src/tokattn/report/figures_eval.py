"""Benchmark figures from eval/summary.csv: every value is mean ± 95 % CI over seeds.

The CI columns are taken from summary.csv as they are (t-interval over seeds widened by
the item noise, tokattn.evaluation.aggregate); nothing here recomputes them. Every figure shows the
chance level where one exists (dotted black: `tokattn.evaluation.tasks.chance`; for bits per byte,
the order-0 byte entropy of the test split), and a panel where every model scored exactly
0 shows a notice saying so instead of an empty chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import (
    ci_errors,
    empty_note,
    figure_legend,
    grouped_bars_ci,
    model_colors,
    new_figure,
)

ALL = "all"
SUMMARY_COLUMNS = (
    "model",
    "task",
    "metric",
    "subtask",
    "language",
    "domain",
    "distance_bytes",
    "n_seeds",
    "mean",
    "ci_low",
    "ci_high",
)


def select(summary: pd.DataFrame, task: str, metric: str, **groups: str) -> pd.DataFrame:
    """Return rows of one task and metric; group columns not named must be 'all'."""
    rows = summary[(summary["task"] == task) & (summary["metric"] == metric)]
    for column in ("subtask", "language", "domain", "distance_bytes"):
        want = groups.get(column, ALL)
        if want == "*":
            rows = rows[rows[column].astype(str) != ALL]
        else:
            rows = rows[rows[column].astype(str) == want]
    return rows


def _models(summary: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(summary["model"]))


MIN_SEEDS_FOR_CI = 3  # below: t(0.975, 1) = 12.7 makes the interval too wide to read


def _seeds_count(rows: pd.DataFrame) -> str:
    seeds = sorted(set(rows["n_seeds"].astype(int))) if len(rows) else []
    return f"{'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''}" if seeds else ""


def _seeds_note(rows: pd.DataFrame) -> str:
    """Return 'mean ± 95 % CI, n seeds', saying so when n is too small for a readable CI."""
    count = _seeds_count(rows)
    if not count:
        return ""
    few = rows["n_seeds"].astype(int).min() < MIN_SEEDS_FOR_CI
    return f"mean ± 95 % CI, {count}" + ("; < 3 seeds: CI not worth reading" if few else "")


CHANCE_STYLE = {"color": "black", "linestyle": ":", "linewidth": 1.3}


def all_zero(rows: pd.DataFrame) -> bool:
    """Return whether there are rows and every model's mean and CI are exactly 0."""
    if rows.empty:
        return False
    values = rows[["mean", "ci_low", "ci_high"]].astype(float).fillna(0.0)
    return bool((values == 0).all().all())


def zero_notice(ax, what: str, rows: pd.DataFrame) -> None:
    """Replace an all-zero chart by a notice naming the metric, the models and the seeds."""
    n_models = rows["model"].nunique()
    empty_note(
        ax,
        f"{what}: 0 for every model ({n_models} model{'s' if n_models != 1 else ''}, "
        f"{_seeds_count(rows)}).\nNo bar to draw: no model "
        "produced a single correct answer.",
    )


def chance_lookup(chance: pd.DataFrame | None, task: str, metric: str) -> dict[str, float]:
    """Return subtask → chance level of one task metric ('all': over every item)."""
    if chance is None or chance.empty:
        return {}
    rows = chance[(chance["task"] == task) & (chance["metric"] == metric)]
    return {str(k): float(v) for k, v in zip(rows["subtask"], rows["chance"], strict=True)}


def draw_chance(ax, levels: Mapping[str, float], categories: Sequence[str] | None = None):
    """Draw the chance level: one line, or one segment per bar group when categories are given."""
    if categories is None:
        if ALL in levels:
            ax.axhline(levels[ALL], label=f"chance ({levels[ALL]:.3g})", **CHANCE_STYLE)
        return
    at = [i for i, category in enumerate(categories) if category in levels]
    if at:
        ys = [levels[categories[i]] for i in at]
        xs = [i for i in at]
        ax.hlines(
            ys, [x - 0.45 for x in xs], [x + 0.45 for x in xs], label="chance", **CHANCE_STYLE
        )


def _bars_panel(ax, rows: pd.DataFrame, category: str, categories, models, colors, ylabel):
    if rows.empty:
        empty_note(ax, f"no {ylabel} rows in summary.csv")
        return False
    if all_zero(rows):
        zero_notice(ax, ylabel, rows)
        return False
    grouped_bars_ci(ax, rows, category, categories, models, colors)
    ax.set_ylabel(ylabel)
    return True


def bpb_figure(summary: pd.DataFrame, unigram_bits: float | None = None) -> Figure:
    """Return bits per byte per language and per domain ('all' first), bars with CI whiskers.

    `unigram_bits`: the test split's order-0 byte entropy, drawn as the baseline a model
    that learned nothing but byte frequencies reaches.
    """
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, 2, width=6.0, height=3.6)
    for ax, column in zip(axes[0], ("language", "domain"), strict=True):
        overall = select(summary, "lm", "bits_per_byte")
        per = select(summary, "lm", "bits_per_byte", **{column: "*"})
        rows = pd.concat([overall.assign(**{column: ALL}), per])
        categories = [ALL, *sorted(set(per[column].astype(str)))]
        drawn = _bars_panel(
            ax, rows, column, categories, models, colors, "bits per byte (lower is better)"
        )
        if drawn and unigram_bits is not None:
            ax.axhline(unigram_bits, label=unigram_label(unigram_bits), **CHANCE_STYLE)
        ax.set_xlabel(column)
        ax.set_title(f"LM bits per byte by {column} ({_seeds_note(rows)})", fontsize="small")
    figure_legend(fig, title="model")
    return fig


def unigram_label(unigram_bits: float) -> str:
    """Return the legend label of the order-0 (unigram) byte entropy line."""
    return f"order-0 byte entropy {unigram_bits:.2f}"


def inference_figure(
    summary: pd.DataFrame, metric: str = "accuracy", chance: pd.DataFrame | None = None
) -> Figure:
    """Return inference accuracy per subtask ('all' first), bars with CI whiskers, chance marks."""
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, 1, width=7.0, height=3.6)
    overall = select(summary, "inference", metric)
    per = select(summary, "inference", metric, subtask="*")
    rows = pd.concat([overall, per])
    categories = [ALL, *sorted(set(per["subtask"].astype(str)))]
    drawn = _bars_panel(
        axes[0, 0], rows, "subtask", categories, models, colors, f"inference {metric}"
    )
    if drawn:
        draw_chance(axes[0, 0], chance_lookup(chance, "inference", metric), categories)
    axes[0, 0].set_ylim(0, 1.05)
    axes[0, 0].set_xlabel("subtask")
    axes[0, 0].set_title(f"Inference ({_seeds_note(rows)})", fontsize="small")
    if drawn:
        figure_legend(fig, title="model")
    return fig


def memory_figure(
    summary: pd.DataFrame,
    metrics=("ll_accuracy", "exact_match"),
    chance: pd.DataFrame | None = None,
) -> Figure:
    """Return memory accuracy against distance in bytes: one curve per model, CI whiskers."""
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, len(metrics), width=4.6, height=3.6)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = select(summary, "memory", metric, distance_bytes="*")
        if rows.empty:
            empty_note(ax, f"no memory {metric} rows in summary.csv")
            continue
        if all_zero(rows):
            zero_notice(ax, f"memory {metric}", rows)
            continue
        rows = rows.assign(distance=rows["distance_bytes"].astype(float))
        for model in models:
            sel = rows[rows["model"] == model].sort_values("distance")
            if sel.empty:
                continue
            ax.errorbar(
                sel["distance"],
                sel["mean"],
                yerr=ci_errors(sel),
                marker="o",
                capsize=3,
                color=colors[model],
                label=model,
            )
        ax.set_xscale("log", base=2)
        distances = sorted(set(rows["distance"]))
        ax.set_xticks(distances, [f"{d:g}" for d in distances])
        ax.minorticks_off()
        ax.set_xlabel("distance between fact and question (bytes)")
        ax.set_ylabel(f"memory {metric}")
        ax.set_ylim(-0.02, 1.05)
        draw_chance(ax, chance_lookup(chance, "memory", metric))
        ax.set_title(_seeds_note(rows), fontsize="small")
    figure_legend(fig, title="model")
    fig.suptitle("Memory: accuracy vs distance in bytes")
    return fig


def rouge_figure(summary: pd.DataFrame, metrics=("rouge1", "rouge2", "rougeL")) -> Figure:
    """Return ROUGE F1 per metric (x) and model (colour), bars with CI whiskers.

    ROUGE has no chance level (see `tokattn.evaluation.tasks.chance`); the title says so.
    """
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, 1, width=6.0, height=3.6)
    rows = pd.concat([select(summary, "summarization", m).assign(rouge=m) for m in metrics])
    drawn = _bars_panel(axes[0, 0], rows, "rouge", list(metrics), models, colors, "ROUGE F1")
    axes[0, 0].set_title(
        f"Summarization ({_seeds_note(rows)}; ROUGE has no chance level)", fontsize="small"
    )
    if drawn:
        figure_legend(fig, title="model")
    return fig


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Return the overall ('all') value of each task metric per model as 'mean [low, high]'."""
    rows = summary
    for column in ("subtask", "language", "domain", "distance_bytes"):
        rows = rows[rows[column].astype(str) == ALL]
    cell = [
        f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
        for m, lo, hi in zip(rows["mean"], rows["ci_low"], rows["ci_high"], strict=True)
    ]
    table = rows.assign(value=cell, column=rows["task"] + " " + rows["metric"])
    out = table.pivot_table(index="model", columns="column", values="value", aggfunc="first")
    return (
        out.reindex(_models(summary)).reset_index().rename_axis(columns=None) if len(out) else out
    )


def headline_tables(
    summary: pd.DataFrame, unigram_bits: float | None = None
) -> dict[str, pd.DataFrame]:
    """Return the headline table split per task (task → model rows, one column per metric).

    One wide table of every task's metrics does not fit a page; one per task does. The lm
    table gains the order-0 byte entropy of the test split and the gap to it
    (entropy − bits per byte): how far each model got below knowing only byte frequencies.
    """
    table = headline_table(summary)
    out = {}
    for task in dict.fromkeys(summary["task"]):
        columns = [c for c in table.columns if c.startswith(f"{task} ")]
        if not columns:
            continue
        part = table[["model", *columns]].rename(
            columns={c: c.removeprefix(f"{task} ") for c in columns}
        )
        if task == "lm" and unigram_bits is not None and math.isfinite(unigram_bits):
            bpb = select(summary, "lm", "bits_per_byte").set_index("model")["mean"]
            gap = [unigram_bits - float(bpb[m]) if m in bpb else math.nan for m in part["model"]]
            part = part.assign(
                **{
                    "order-0 byte entropy": f"{unigram_bits:.3f}",
                    "gap (entropy − bits_per_byte)": [
                        "" if math.isnan(g) else f"{g:.3f}" for g in gap
                    ],
                }
            )
        out[task] = part.reset_index(drop=True)
    return out

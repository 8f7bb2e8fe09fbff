"""Benchmark figures from eval/summary.csv: every value is mean ± 95 % CI over seeds.

The CI columns are taken from summary.csv as they are (two-level bootstrap over seeds and
items, tokattn.evaluation.aggregate); nothing here recomputes them.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import ci_errors, empty_note, grouped_bars_ci, model_colors, new_figure

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


def _seeds_note(rows: pd.DataFrame) -> str:
    seeds = sorted(set(rows["n_seeds"].astype(int))) if len(rows) else []
    return f"mean ± 95 % CI, {'/'.join(map(str, seeds))} seeds" if seeds else ""


def _bars_panel(ax, rows: pd.DataFrame, category: str, categories, models, colors, ylabel):
    if rows.empty:
        empty_note(ax, f"no {ylabel} rows in summary.csv")
        return
    grouped_bars_ci(ax, rows, category, categories, models, colors)
    ax.set_ylabel(ylabel)


def bpb_figure(summary: pd.DataFrame) -> Figure:
    """Return bits per byte per language and per domain ('all' first), bars with CI whiskers."""
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, 2, width=6.0, height=3.6)
    for ax, column in zip(axes[0], ("language", "domain"), strict=True):
        overall = select(summary, "lm", "bits_per_byte")
        per = select(summary, "lm", "bits_per_byte", **{column: "*"})
        rows = pd.concat([overall.assign(**{column: ALL}), per])
        categories = [ALL, *sorted(set(per[column].astype(str)))]
        _bars_panel(ax, rows, column, categories, models, colors, "bits per byte (lower is better)")
        ax.set_xlabel(column)
        ax.set_title(f"LM bits per byte by {column} ({_seeds_note(rows)})", fontsize="small")
    axes[0, 0].legend(title="model", fontsize="small")
    return fig


def inference_figure(summary: pd.DataFrame, metric: str = "accuracy") -> Figure:
    """Return inference accuracy per subtask ('all' first), bars with CI whiskers."""
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, 1, width=7.0, height=3.6)
    overall = select(summary, "inference", metric)
    per = select(summary, "inference", metric, subtask="*")
    rows = pd.concat([overall, per])
    categories = [ALL, *sorted(set(per["subtask"].astype(str)))]
    _bars_panel(axes[0, 0], rows, "subtask", categories, models, colors, f"inference {metric}")
    axes[0, 0].set_ylim(0, 1.05)
    axes[0, 0].set_xlabel("subtask")
    axes[0, 0].set_title(f"Inference ({_seeds_note(rows)})", fontsize="small")
    if len(rows):
        axes[0, 0].legend(title="model", fontsize="small")
    return fig


def memory_figure(summary: pd.DataFrame, metrics=("ll_accuracy", "exact_match")) -> Figure:
    """Return memory accuracy against distance in bytes: one curve per model, CI whiskers."""
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, len(metrics), width=4.6, height=3.6)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = select(summary, "memory", metric, distance_bytes="*")
        if rows.empty:
            empty_note(ax, f"no memory {metric} rows in summary.csv")
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
        ax.set_title(_seeds_note(rows), fontsize="small")
        ax.legend(title="model", fontsize="small")
    fig.suptitle("Memory: accuracy vs distance in bytes")
    return fig


def rouge_figure(summary: pd.DataFrame, metrics=("rouge1", "rouge2", "rougeL")) -> Figure:
    """Return ROUGE F1 per metric (x) and model (colour), bars with CI whiskers."""
    models = _models(summary)
    colors = model_colors(models)
    fig, axes = new_figure(1, 1, width=6.0, height=3.6)
    rows = pd.concat([select(summary, "summarization", m).assign(rouge=m) for m in metrics])
    _bars_panel(axes[0, 0], rows, "rouge", list(metrics), models, colors, "ROUGE F1")
    axes[0, 0].set_title(f"Summarization ({_seeds_note(rows)})", fontsize="small")
    if len(rows):
        axes[0, 0].legend(title="model", fontsize="small")
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

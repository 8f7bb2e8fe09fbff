"""Shared figure plumbing: the Agg backend, one colour per model, CI bars, atomic saving."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = ("png", "svg")


def model_colors(models: Sequence[str]) -> dict[str, tuple]:
    """Return a fixed colour per model name (same order, same colour in every figure)."""
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


# Distinct markers and dash patterns: curves that coincide (an arm and its byte-branch
# twin, two model pairs at the same JS) stay visible by shape when their colours overlap.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def model_markers(models: Sequence[str]) -> dict[str, str]:
    """Return a fixed marker per model name (same order as `model_colors`)."""
    return {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(models)}


def figure_legend(
    fig: Figure, title: str | None = None, fontsize="small", loc="outside right upper", ncols=1
):
    """Put one legend for every labelled artist of `fig` outside the axes (`loc`).

    Inside an axes a legend hides bars and curves; with the constrained layout the axes
    shrink to make room for it. Labels repeated across panels appear once. Returns the
    legend (None when nothing is labelled).
    """
    handles, labels = {}, []
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles and not label.startswith("_"):
                handles[label] = handle
                labels.append(label)
    if not labels:
        return None
    return fig.legend(
        [handles[label] for label in labels],
        labels,
        loc=loc,
        title=title,
        fontsize=fontsize,
        ncols=ncols,
    )


def new_figure(n_rows: int = 1, n_cols: int = 1, width: float = 5.0, height: float = 3.4):
    """Return (figure, 2-D array of axes) sized `width` × `height` inches per panel."""
    fig = Figure(figsize=(max(width * n_cols, 4), max(height * n_rows, 2.5)), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def ci_errors(df: pd.DataFrame) -> np.ndarray:
    """Return matplotlib yerr [2, n]: distances from `mean` down to ci_low and up to ci_high."""
    mean = df["mean"].to_numpy(float)
    low = np.clip(mean - df["ci_low"].to_numpy(float), 0, None)
    high = np.clip(df["ci_high"].to_numpy(float) - mean, 0, None)
    return np.vstack([low, high])


def grouped_bars_ci(ax, df: pd.DataFrame, category: str, categories: Sequence, models, colors):
    """Draw one bar per (category, model) at `mean` with its 95 % CI whiskers."""
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(categories))
    for i, model in enumerate(models):
        rows = df[df["model"] == model].set_index(category).reindex(list(categories))
        rows = rows.dropna(subset=["mean"])
        if rows.empty:
            continue
        pos = (
            x[[list(categories).index(c) for c in rows.index]] + (i - (len(models) - 1) / 2) * width
        )
        ax.bar(pos, rows["mean"], width, color=colors[model], label=model)
        ax.errorbar(pos, rows["mean"], yerr=ci_errors(rows), fmt="none", ecolor="black", capsize=2)
    ax.set_xticks(x, [str(c) for c in categories], rotation=45 if len(categories) > 6 else 0)


def empty_note(ax, text: str) -> None:
    """Write `text` in the middle of an axes that has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` to `path` (format from the suffix) through a temp file; return the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path}: figure format must be one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.{fmt}")
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

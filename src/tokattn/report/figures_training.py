"""Training curves against bytes seen (the budget unit shared by every tokenizer)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import (
    empty_note,
    figure_legend,
    model_colors,
    model_markers,
    new_figure,
)

SEED_STYLES = ("-", "--", ":", "-.")
N_MARKS = 8  # markers per train-loss curve (one per logged step would hide the line)


def training_curves_figure(logs: pd.DataFrame) -> Figure:
    """Return train loss (nats per token) and val bits per byte vs bytes seen; a line per run.

    Colour and a hollow marker per model, dash pattern per seed; earlier models are drawn
    with wider lines and larger markers under later ones, so an arm whose curve lies
    exactly on another's (a byte-branch twin) still shows as a nested stripe and ring.
    """
    fig, axes = new_figure(1, 2, width=5.2, height=3.6)
    loss_ax, bpb_ax = axes[0]
    if logs.empty:
        empty_note(loss_ax, "no training logs")
        empty_note(bpb_ax, "no training logs")
        return fig
    models = list(dict.fromkeys(logs["model"]))
    colors, markers = model_colors(models), model_markers(models)
    seeds = sorted(set(logs["seed"]))
    for (model, seed), run in logs.groupby(["model", "seed"], sort=False):
        under = (len(models) - 1 - models.index(model)) / max(len(models) - 1, 1)  # 1: first
        style = {
            "linewidth": 1.0 + 2.5 * under,
            "markersize": 3.5 + 4.0 * under,
            "linestyle": SEED_STYLES[seeds.index(seed) % len(SEED_STYLES)],
            "color": colors[model],
            "marker": markers[model],
            "markerfacecolor": "none",
            "label": f"{model} seed {seed}",
        }
        run = run.sort_values("bytes")
        train = run.dropna(subset=["loss"])
        every = max(1, len(train) // N_MARKS)
        offset = (models.index(model) * max(1, every // len(models))) % every
        loss_ax.plot(train["bytes"], train["loss"], markevery=(offset, every), **style)
        val = run.dropna(subset=["val_bpb"])
        bpb_ax.plot(val["bytes"], val["val_bpb"], **style)
    loss_ax.set_xlabel("training bytes seen")
    loss_ax.set_ylabel("train loss (nats per token)")
    loss_ax.set_title("Train loss — per token, not comparable across tokenizers", fontsize="small")
    bpb_ax.set_xlabel("training bytes seen")
    bpb_ax.set_ylabel("validation bits per byte")
    bpb_ax.set_title("Validation bits per byte (comparable)", fontsize="small")
    figure_legend(fig, fontsize="x-small")
    return fig

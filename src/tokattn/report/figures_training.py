"""Training curves against bytes seen (the budget unit shared by every tokenizer)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import empty_note, model_colors, new_figure

SEED_STYLES = ("-", "--", ":", "-.")


def training_curves_figure(logs: pd.DataFrame) -> Figure:
    """Return train loss (nats per token) and val bits per byte vs bytes seen; a line per run."""
    fig, axes = new_figure(1, 2, width=5.2, height=3.6)
    loss_ax, bpb_ax = axes[0]
    if logs.empty:
        empty_note(loss_ax, "no training logs")
        empty_note(bpb_ax, "no training logs")
        return fig
    models = list(dict.fromkeys(logs["model"]))
    colors = model_colors(models)
    seeds = sorted(set(logs["seed"]))
    for (model, seed), run in logs.groupby(["model", "seed"], sort=False):
        style = SEED_STYLES[seeds.index(seed) % len(SEED_STYLES)]
        run = run.sort_values("bytes")
        label = f"{model} seed {seed}"
        train = run.dropna(subset=["loss"])
        loss_ax.plot(train["bytes"], train["loss"], style, color=colors[model], label=label)
        val = run.dropna(subset=["val_bpb"])
        bpb_ax.plot(
            val["bytes"],
            val["val_bpb"],
            style,
            marker="o",
            markersize=3,
            color=colors[model],
            label=label,
        )
    loss_ax.set_xlabel("training bytes seen")
    loss_ax.set_ylabel("train loss (nats per token)")
    loss_ax.set_title("Train loss — per token, not comparable across tokenizers", fontsize="small")
    bpb_ax.set_xlabel("training bytes seen")
    bpb_ax.set_ylabel("validation bits per byte")
    bpb_ax.set_title("Validation bits per byte (comparable)", fontsize="small")
    bpb_ax.legend(fontsize="x-small")
    return fig

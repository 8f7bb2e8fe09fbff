"""Attention figures: head grids, word maps across models, head statistics, cross-attention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import empty_note, figure_legend, model_colors, new_figure

MAX_TICK_LABELS = 40  # beyond this many tokens, labels would overlap: leave them off
# (column of heads.parquet, axis label). Only tokenizer-independent statistics: the word
# frame (means over query words of the word-projected maps) and the additive share of
# the layer's output, so the boxes of different tokenizers are comparable.
HEAD_STAT_PANELS = (
    ("entropy_norm_word", "word-map entropy / log(visible words)"),
    ("distance_words", "mean attention distance (words, text keys)"),
    ("word_projected_mass", "attention mass on the text (1 − BOS)"),
    ("contribution_additive", "additive share ⟨c_h, o⟩/‖o‖² of the layer"),
)
# Drawn when heads.parquet has it: targets are found in bytes, but how many queries are
# scored depends on the tokenizer, so each model's tick says how many (per seed).
INDUCTION_PANEL = ("induction_score", "induction score")


def span_labels(text: str, byte_spans: np.ndarray) -> list[str]:
    """Return the text of each token's byte span (specials with an empty span: '∅')."""
    data = text.encode("utf-8")
    labels = []
    for start, end in np.asarray(byte_spans).reshape(-1, 2):
        piece = data[start:end].decode("utf-8", "replace")
        labels.append(piece.replace("\n", "⏎").replace(" ", "·") if end > start else "∅")
    return labels


def _label_axes(ax, labels: Sequence[str] | None, n: int) -> None:
    if labels is not None and n <= MAX_TICK_LABELS:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=5)
        ax.set_yticks(range(n), labels, fontsize=5)
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def head_grid_figure(maps: np.ndarray, labels: Sequence[str] | None, title: str) -> Figure:
    """Return a layer × head grid of attention maps [layer, head, query, key] (per token)."""
    n_layers, n_heads, n_tok = maps.shape[0], maps.shape[1], maps.shape[-1]
    size = 2.2 if n_tok <= MAX_TICK_LABELS else 1.6
    fig, axes = new_figure(n_layers, n_heads, width=size, height=size)
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(
                maps[layer, head], cmap="viridis", vmin=0, vmax=1, interpolation="nearest"
            )
            _label_axes(ax, labels if layer == n_layers - 1 and head == 0 else None, n_tok)
            ax.set_title(f"L{layer} H{head}", fontsize="small")
    if image is not None:  # one shared scale: every panel is drawn on 0..1
        fig.colorbar(image, ax=axes, label="attention weight (0–1, shared)", shrink=0.8)
    fig.suptitle(f"{title} — query (rows) × key (columns), per token")
    return fig


def word_maps_figure(
    maps: Mapping[str, np.ndarray],
    words: Sequence[str],
    title: str,
    masses: Mapping[str, np.ndarray | None] | None = None,
) -> Figure:
    """Return head-mean word maps, one row per layer and one column per model.

    `maps`: model → [layer, head, word, word]; deeper models get more rows (empty below).
    `masses`: model → projected mass [layer, head, word]; each panel's title then gives
    the mean attention mass its rows kept (the rest went to BOS and was dropped).
    """
    masses = masses or {}
    models = list(maps)
    n_rows = max((m.shape[0] for m in maps.values()), default=1)
    size = 2.6 if len(words) <= MAX_TICK_LABELS else 2.0
    fig, axes = new_figure(n_rows, max(len(models), 1), width=size, height=size)
    if not models:
        empty_note(axes[0, 0], "no word maps")
        return fig
    image = None
    for col, model in enumerate(models):
        mean = maps[model].mean(axis=1)  # [layer, word, word]
        for row in range(n_rows):
            ax = axes[row, col]
            if row >= mean.shape[0]:
                ax.set_axis_off()
                continue
            image = ax.imshow(mean[row], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            _label_axes(ax, words if col == 0 else None, len(words))
            mass = masses.get(model)
            kept = f" (text mass {float(mass[row].mean()):.2f})" if mass is not None else ""
            ax.set_title(f"{model} L{row}{kept}", fontsize="small")
    if image is not None:
        fig.colorbar(image, ax=axes, label="attention weight (0–1, shared)", shrink=0.8)
    fig.suptitle(f"{title} — projected onto words, mean over heads")
    return fig


def induction_label(heads: pd.DataFrame, model: str) -> str:
    """Return `model` with its number of induction queries per seed (n=a or n=a–b)."""
    rows = heads[heads["model"] == model]
    if "induction_n_queries" not in rows:
        return model
    counts = rows.groupby("seed")["induction_n_queries"].first()
    low, high = int(counts.min()), int(counts.max())
    return f"{model}\nn={low}" if low == high else f"{model}\nn={low}–{high}"


def head_stats_figure(heads: pd.DataFrame) -> Figure:
    """Return per statistic a box per model of its per-head values (all layers and seeds)."""
    models = list(dict.fromkeys(heads["model"])) if len(heads) else []
    colors = model_colors(models)
    panels = list(HEAD_STAT_PANELS)
    if INDUCTION_PANEL[0] in heads and heads[INDUCTION_PANEL[0]].notna().any():
        panels.append(INDUCTION_PANEL)
    fig, axes = new_figure(1, len(panels), width=3.6, height=3.2)
    for ax, (column, label) in zip(axes[0], panels, strict=True):
        values = [heads.loc[heads["model"] == m, column].dropna().to_numpy() for m in models]
        if not models:
            empty_note(ax, "no heads")
            continue
        boxes = ax.boxplot(values, patch_artist=True, widths=0.6)
        for patch, model in zip(boxes["boxes"], models, strict=True):
            patch.set_facecolor(colors[model])
        ticks = (
            [induction_label(heads, m) for m in models] if column == "induction_score" else models
        )
        ax.set_xticks(range(1, len(models) + 1), ticks, rotation=30)
        ax.set_ylabel(label, fontsize="small")
    fig.suptitle("Per-head statistics (one value per layer × head × seed)")
    return fig


def cross_attention_figure(
    cross: np.ndarray,
    cross_layers: Sequence[int],
    token_labels: Sequence[str],
    byte_labels: Sequence[str],
    title: str,
) -> Figure:
    """Return token × byte cross-attention [n_cross, head, token, byte], one panel per layer.

    Each panel is the mean over that cross-attention's heads.
    """
    cross = np.asarray(cross, dtype=np.float64)
    n_cross, n_tok, n_byte = cross.shape[0], cross.shape[-2], cross.shape[-1]
    fig, axes = new_figure(n_cross, 1, width=max(5.0, 0.09 * n_byte), height=max(3.0, 0.12 * n_tok))
    for i, ax in enumerate(axes[:, 0]):
        mean = cross[i].mean(axis=0)  # [token, byte]
        image = ax.imshow(mean, cmap="viridis", aspect="auto", interpolation="nearest")
        fig.colorbar(image, ax=ax, label="attention weight")
        if n_tok <= 60:
            ax.set_yticks(range(n_tok), token_labels[:n_tok], fontsize=5)
        if n_byte <= 120:
            ax.set_xticks(range(n_byte), byte_labels[:n_byte], fontsize=4)
        ax.set_xlabel("key byte")
        ax.set_ylabel("query token")
        layer = cross_layers[i] if i < len(cross_layers) else i
        ax.set_title(f"cross-attention into layer {layer}, mean over heads", fontsize="small")
    fig.suptitle(f"{title} — token × byte cross-attention")
    return fig


# (column of heads.parquet, panel title). The word frame is comparable across tokenizers;
# the per-token frame is not (a byte tokenizer spreads attention over more, shorter keys).
ENTROPY_PANELS = (
    ("entropy_norm_word", "word frame (comparable across tokenizers)"),
    ("entropy_norm_per_token", "per token (not comparable across tokenizers)"),
)


def head_entropy_figure(heads: pd.DataFrame, threshold: float) -> Figure:
    """Return per frame a violin per model of normalised head entropy (all heads and seeds).

    1 is uniform attention. The dotted line is the learned gate's `threshold` on the
    median of the word frame; the white dot is each model's median.
    """
    models = list(dict.fromkeys(heads["model"])) if len(heads) else []
    colors = model_colors(models)
    panels = [(c, t) for c, t in ENTROPY_PANELS if c in heads and heads[c].notna().any()]
    fig, axes = new_figure(1, max(len(panels), 1), width=max(3.6, 1.1 * len(models)), height=3.4)
    if not panels:
        empty_note(axes[0, 0], "no head entropy in heads.parquet")
        return fig
    for ax, (column, title) in zip(axes[0], panels, strict=True):
        values = [heads.loc[heads["model"] == m, column].dropna().to_numpy(float) for m in models]
        shown = [i for i, v in enumerate(values) if len(v)]
        parts = ax.violinplot(
            [values[i] for i in shown], positions=[i + 1 for i in shown], showextrema=True
        )
        for body, i in zip(parts["bodies"], shown, strict=True):
            body.set_facecolor(colors[models[i]])
            body.set_alpha(0.6)
        ax.scatter(
            [i + 1 for i in shown],
            [float(np.median(values[i])) for i in shown],
            color="white",
            edgecolor="black",
            zorder=3,
            label="median",
        )
        ax.axhline(
            threshold,
            color="black",
            linestyle=":",
            label=f"learned gate: median > {threshold:g} = near-uniform",
        )
        ax.set_xticks(range(1, len(models) + 1), models, rotation=30)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("normalised entropy (1 = uniform)", fontsize="small")
        ax.set_title(title, fontsize="small")
    figure_legend(fig, loc="outside lower center", ncols=2, fontsize="x-small")
    fig.suptitle("Normalised attention entropy per head (every layer, head and seed)")
    return fig

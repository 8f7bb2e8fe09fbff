"""Cross-tokenizer comparison figures from analysis/compare.parquet (JS divergence, bits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import (
    LINESTYLES,
    MARKERS,
    empty_note,
    figure_legend,
    model_colors,
    new_figure,
)

MAX_PAIR_PANELS = 8  # beyond this many model pairs, only the matrix shows every pair
DODGE = 0.012  # x shift between series (relative depth): equal values do not stack
_SWAP = {
    "model_a": "model_b",
    "seed_a": "seed_b",
    "layer_a": "layer_b",
    "head_a": "head_b",
    "depth_a": "depth_b",
}


def ordered_pairs(compare: pd.DataFrame) -> pd.DataFrame:
    """Return `compare` with a/b swapped where needed so that model_a <= model_b."""
    swap = compare["model_a"] > compare["model_b"]
    out = compare.copy()
    for a, b in _SWAP.items():
        out.loc[swap, a], out.loc[swap, b] = compare.loc[swap, b], compare.loc[swap, a]
    return out


def same_depth_js(compare: pd.DataFrame) -> pd.DataFrame:
    """Return per (model pair, seed pair, layer_a) the JS to B's layer of nearest relative depth."""
    layers = ordered_pairs(compare[compare["kind"] == "layer"])
    layers = layers.assign(gap=(layers["depth_a"] - layers["depth_b"]).abs())
    keys = ["model_a", "model_b", "seed_a", "seed_b", "layer_a"]
    best = layers.sort_values([*keys, "gap"]).groupby(keys, as_index=False).first()
    return best[[*keys, "depth_a", "layer_b", "js"]]


def js_layers_figure(compare: pd.DataFrame) -> Figure:
    """Return JS divergence per layer (relative depth) per model pair, seed pairs as noise floor.

    Lines: mean over seed pairs, whiskers: their min–max. Dashed: two seeds of one model.
    Every series has its own colour, marker and dash pattern and is shifted a little along
    x, so series with equal values stay visible; the legend sits outside the axes.
    """
    fig, axes = new_figure(1, 1, width=6.5, height=5.0)
    ax = axes[0, 0]
    rows = same_depth_js(compare) if (compare["kind"] == "layer").any() else pd.DataFrame()
    if rows.empty:
        empty_note(ax, "no layer comparisons (needs at least two attention runs)")
        return fig
    pairs = list(dict.fromkeys(zip(rows["model_a"], rows["model_b"], strict=True)))
    colors = model_colors([f"{a} vs {b}" for a, b in pairs])
    floors = [p for p in pairs if p[0] == p[1]]
    crosses = [p for p in pairs if p[0] != p[1]]
    for i, (a, b) in enumerate(pairs):
        sel = rows[(rows["model_a"] == a) & (rows["model_b"] == b)]
        stats = sel.groupby("depth_a")["js"].agg(["mean", "min", "max"]).reset_index()
        label = f"{a} vs {b}" if a != b else f"{a}: seed vs seed (noise floor)"
        yerr = np.vstack([stats["mean"] - stats["min"], stats["max"] - stats["mean"]])
        # Noise floors dashed-family, cross pairs solid-family; both cycle so that no two
        # series share colour, marker and dash pattern.
        if a == b:
            k = floors.index((a, b))
            linestyle = LINESTYLES[1 + k % (len(LINESTYLES) - 1)]
        else:
            k = crosses.index((a, b))
            linestyle = LINESTYLES[(k // len(MARKERS)) % len(LINESTYLES)]
        ax.errorbar(
            stats["depth_a"] + (i - (len(pairs) - 1) / 2) * DODGE,
            stats["mean"],
            yerr=yerr,
            marker=MARKERS[i % len(MARKERS)],
            markerfacecolor="none",
            capsize=3,
            linestyle=linestyle,
            color=colors[f"{a} vs {b}"],
            label=label,
        )
    ax.set_xlabel("relative depth of the layer ((layer + ½) / layers)")
    ax.set_ylabel("JS divergence of word maps (bits)")
    ax.set_title("Cross-tokenizer attention divergence per layer (word frame)", fontsize="small")
    figure_legend(fig, fontsize="x-small", loc="outside lower center", ncols=2)
    return fig


def matched_heads(compare: pd.DataFrame) -> pd.DataFrame:
    """Return the head matches between different models at their first common seed pair."""
    rows = ordered_pairs(compare[compare["kind"] == "head_match"])
    rows = rows[rows["model_a"] != rows["model_b"]]
    if rows.empty:
        return rows
    first = rows.groupby(["model_a", "model_b"])[["seed_a", "seed_b"]].transform("min")
    rows = rows[(rows["seed_a"] == first["seed_a"]) & (rows["seed_b"] == first["seed_b"])]
    return rows.sort_values(["model_a", "model_b", "js"]).reset_index(drop=True)


def seed_floor(compare: pd.DataFrame) -> dict[str, float]:
    """Return per model the mean JS of its matched heads across two of its own seeds."""
    rows = compare[(compare["kind"] == "head_match") & (compare["model_a"] == compare["model_b"])]
    return rows.groupby("model_a")["js"].mean().to_dict()


def matched_js_matrix(compare: pd.DataFrame) -> pd.DataFrame:
    """Return mean matched-head JS [model, model] over seed pairs; diagonal: seed vs seed."""
    rows = ordered_pairs(compare[compare["kind"] == "head_match"])
    models = sorted(set(rows["model_a"]) | set(rows["model_b"]))
    means = rows.groupby(["model_a", "model_b"])["js"].mean()
    matrix = pd.DataFrame(np.nan, index=models, columns=models)
    for (a, b), value in means.items():
        matrix.loc[a, b] = matrix.loc[b, a] = value
    return matrix


def matched_heads_figure(compare: pd.DataFrame, max_pair_panels: int = MAX_PAIR_PANELS) -> Figure:
    """Return a model × model matrix of matched-head JS, then per model pair the JS of each
    matched head pair (sorted) with the two models' seed noise floors (first pairs only)."""
    matches = matched_heads(compare) if len(compare) else pd.DataFrame()
    pairs = list(
        dict.fromkeys(zip(matches.get("model_a", []), matches.get("model_b", []), strict=True))
    )
    shown = pairs[:max_pair_panels]
    fig, axes = new_figure(1 + len(shown), 1, width=8.0, height=2.8)
    if not pairs:
        empty_note(axes[0, 0], "no head matches between different models")
        return fig
    matrix = matched_js_matrix(compare)
    ax = axes[0, 0]
    values = matrix.to_numpy(float)
    # aspect="auto": a square matrix in a wide panel would leave blank space beside it.
    image = ax.imshow(values, cmap="magma_r", vmin=0, aspect="auto")
    fig.colorbar(image, ax=ax, label="mean matched-head JS (bits)")
    top = np.nanmax(values) if np.isfinite(values).any() else 0.0
    for (r, c), value in np.ndenumerate(values):
        if np.isfinite(value):
            dark = value > 0.5 * top
            ax.text(
                c,
                r,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(len(matrix)), matrix.columns, rotation=45, fontsize="small")
    ax.set_yticks(range(len(matrix)), matrix.index, fontsize="small")
    ax.set_title(
        "Matched heads, mean JS over seed pairs (diagonal: seed vs seed)",
        fontsize="small",
    )
    floor = seed_floor(compare)
    for ax, (a, b) in zip(axes[1:, 0], shown, strict=True):
        sel = matches[(matches["model_a"] == a) & (matches["model_b"] == b)]
        labels = [f"L{r.layer_a}H{r.head_a}–L{r.layer_b}H{r.head_b}" for r in sel.itertuples()]
        ax.bar(np.arange(len(sel)), sel["js"], color="tab:blue")
        ax.set_xticks(np.arange(len(sel)), labels, rotation=90, fontsize=6)
        for model, style in zip((a, b), ("--", ":"), strict=True):
            if model in floor:
                ax.axhline(
                    floor[model], color="black", linestyle=style, label=f"{model}: seed vs seed"
                )
        ax.set_ylabel("JS (bits)")
        ax.set_title(
            f"Matched heads {a} (seed {sel['seed_a'].iloc[0]}) – {b} "
            f"(seed {sel['seed_b'].iloc[0]})",
            fontsize="small",
            loc="left",
        )
        if any(m in floor for m in (a, b)):
            ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig

"""Tokenizer figures: per-language efficiency metrics and the stress-probe segmentation diff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.style import empty_note, figure_legend, model_colors, new_figure

FIGURE_WIDTH_IN = 11.0
# (column of tokenizers/metrics.csv, axis label): bytes per token is the cross-tokenizer
# unit; fertility is per word, parity per token of the English reference.
TOKENIZER_PANELS = (
    ("bytes_per_token", "bytes per token"),
    ("fertility", "fertility (tokens per word)"),
    ("parity", "parity (tokens vs English, parallel text)"),
    ("renyi_efficiency", "Rényi efficiency (α = 2.5)"),
)
# A panel whose largest bar is this many times its smallest gets a log axis: one outlier
# (WordPiece on Lao, mostly [UNK] at ~66 bytes per token) would flatten every other bar.
LOG_SPAN = 10.0
LOG_PANELS = ("bytes_per_token", "fertility")  # unbounded ratios; parity and Rényi stay linear


def wants_log_axis(values: np.ndarray) -> bool:
    """Return whether positive `values` span more than LOG_SPAN (max / min)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) >= 2 and values.max() / values.min() > LOG_SPAN


def language_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """Return the per-language rows of metrics.csv plus the overall row as language 'all'."""
    keep = metrics["level"].isin(["language", "overall"])
    rows = metrics[keep].copy()
    rows.loc[rows["level"] == "overall", "language"] = "all"
    return rows


def tokenizer_metrics_figure(metrics: pd.DataFrame, languages: Sequence[str]) -> Figure:
    """Return one panel per metric: bars per language (x) and tokenizer (colour)."""
    rows = language_rows(metrics)
    tokenizers = list(dict.fromkeys(rows["tokenizer"]))
    colors = model_colors(tokenizers)
    categories = ["all", *[lang for lang in languages if lang != "all"]]
    fig, axes = new_figure(
        len(TOKENIZER_PANELS), 1, width=max(6.0, 0.45 * len(categories)), height=2.6
    )
    width = 0.8 / max(len(tokenizers), 1)
    for ax, (column, label) in zip(axes[:, 0], TOKENIZER_PANELS, strict=True):
        table = rows.pivot_table(index="language", columns="tokenizer", values=column)
        shown = [c for c in categories if c in table.index and table.loc[c].notna().any()]
        if not shown:
            empty_note(ax, f"no {label} values")
            ax.set_ylabel(label)
            continue
        x = np.arange(len(shown))
        log = column in LOG_PANELS and wants_log_axis(table.reindex(shown).to_numpy(float))
        for i, tok in enumerate(tokenizers):
            values = table.reindex(shown)[tok] if tok in table else pd.Series(np.nan, index=shown)
            ax.bar(
                x + (i - (len(tokenizers) - 1) / 2) * width,
                values.to_numpy(float),
                width,
                color=colors[tok],
                label=tok,
            )
        ax.set_xticks(x, shown, rotation=45 if len(shown) > 8 else 0)
        if log:
            from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            label = f"{label} (log scale)"
        ax.set_ylabel(label, fontsize="small")
    figure_legend(fig, title="tokenizer", loc="outside lower center", ncols=min(len(tokenizers), 6))
    fig.suptitle("Tokenizers on the test split, per language (all = whole split)")
    axes[-1, 0].set_xlabel("language")
    return fig


def segmentation_figure(segmentations: Sequence[Mapping]) -> Figure:
    """Return one panel per probe: a row of token boxes per tokenizer along the byte axis.

    `segmentations`: {"probe_id", "kind", "text", "n_bytes", "tokenizers": {name: [[start,
    end], ...]}} with byte spans per token, as written by `segment_probes`.
    """
    n = max(len(segmentations), 1)
    fig, axes = new_figure(
        n, 1, width=FIGURE_WIDTH_IN, height=1.0 + 0.35 * _n_tokenizers(segmentations)
    )
    if not segmentations:
        empty_note(axes[0, 0], "no stress probes in the probe set")
        return fig
    for ax, seg in zip(axes[:, 0], segmentations, strict=True):
        data = seg["text"].encode("utf-8")
        names = list(seg["tokenizers"])
        # Width of one byte on the page (points): label a token only where its text fits.
        points_per_byte = FIGURE_WIDTH_IN * 72 * 0.8 / max(seg["n_bytes"], 1)
        for row, name in enumerate(names):
            spans = seg["tokenizers"][name]
            for i, (start, end) in enumerate(spans):
                ax.add_patch(_box(start, end, row, i))
                piece = data[start:end].decode("utf-8", "replace").replace("\n", "⏎")
                if piece.strip() and (end - start) * points_per_byte >= 4.0 * len(piece):
                    ax.text(
                        (start + end) / 2,
                        row,
                        piece,
                        ha="center",
                        va="center",
                        fontsize=6,
                        clip_on=True,
                    )
        ax.set_xlim(0, max(seg["n_bytes"], 1))
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_yticks(
            range(len(names)),
            [f"{n} ({len(seg['tokenizers'][n])} tok)" for n in names],
            fontsize="small",
        )
        ax.set_xlabel("UTF-8 bytes")
        ax.set_title(f"{seg['probe_id']} ({seg['kind']})", fontsize="small", loc="left")
    return fig


def _n_tokenizers(segmentations: Sequence[Mapping]) -> int:
    return max((len(s["tokenizers"]) for s in segmentations), default=1)


def _box(start: int, end: int, row: int, index: int):
    from matplotlib.patches import Rectangle

    shade = "#c6dbef" if index % 2 == 0 else "#fdd0a2"
    return Rectangle(
        (start, row - 0.4),
        max(end - start, 0.3),
        0.8,
        facecolor=shade,
        edgecolor="black",
        linewidth=0.4,
    )

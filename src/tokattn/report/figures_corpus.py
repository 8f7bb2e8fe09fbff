"""Corpus figure: UTF-8 bytes per language × domain."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokattn.report.loading import top_languages
from tokattn.report.style import figure_legend, new_figure

OTHER = "other"


def language_domain_matrix(df: pd.DataFrame, max_languages: int) -> pd.DataFrame:
    """Return bytes [language, domain]: the top languages by bytes, the rest summed as 'other'."""
    top = top_languages(df, max_languages)
    lang = df["language"].where(df["language"].isin(top), OTHER)
    table = df.assign(language=lang).pivot_table(
        index="language", columns="domain", values="bytes", aggfunc="sum", fill_value=0
    )
    order = top + ([OTHER] if OTHER in table.index else [])
    return table.reindex(order).fillna(0).astype(np.int64)


def corpus_bytes_figure(df: pd.DataFrame, max_languages: int = 16, split: str = "train") -> Figure:
    """Return stacked horizontal bars: bytes per language (rows), one segment per domain."""
    table = language_domain_matrix(df, max_languages)
    n_other = df.loc[~df["language"].isin(table.index), "language"].nunique()
    fig, axes = new_figure(1, 1, width=7.5, height=max(2.5, 0.28 * len(table) + 1.2))
    ax = axes[0, 0]
    left = np.zeros(len(table))
    y = np.arange(len(table))
    for domain in table.columns:
        values = table[domain].to_numpy(float)
        ax.barh(y, values, left=left, label=domain)
        left += values
    labels = [f"other ({n_other} languages)" if lang == OTHER else lang for lang in table.index]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("UTF-8 bytes")
    ax.set_title(f"Corpus ({split} split): bytes per language × domain")
    figure_legend(fig, title="domain")
    return fig

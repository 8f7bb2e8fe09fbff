"""Corpus, tokenizer and training figures on synthetic tables shaped like the real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from tokattn.report.figures_corpus import corpus_bytes_figure, language_domain_matrix
from tokattn.report.figures_tokenizers import (
    TOKENIZER_PANELS,
    segmentation_figure,
    tokenizer_metrics_figure,
)
from tokattn.report.figures_training import training_curves_figure
from tokattn.report.loading import corpus_bytes

STATS = {
    "splits": {
        "train": {
            "by_language_domain": {
                "en": {
                    "news": {"documents": 3, "bytes": 900},
                    "dialog": {"documents": 1, "bytes": 50},
                },
                "de": {"dialog": {"documents": 2, "bytes": 300}},
                "zh": {"legal": {"documents": 1, "bytes": 200}},
                "fa": {"legal": {"documents": 1, "bytes": 40}},
                "yo": {"legal": {"documents": 1, "bytes": 10}},
            }
        }
    }
}


def test_language_domain_matrix_keeps_top_languages_and_sums_the_rest():
    df = corpus_bytes(STATS)
    table = language_domain_matrix(df, max_languages=3)
    assert list(table.index) == ["en", "de", "zh", "other"]
    assert table.loc["other", "legal"] == 50
    assert table.to_numpy().sum() == df["bytes"].sum() == 1500


def test_corpus_figure_stacks_one_segment_per_domain():
    fig = corpus_bytes_figure(corpus_bytes(STATS), max_languages=3)
    (ax,) = fig.axes
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 4 * 3  # (3 languages + other) × 3 domains
    assert "bytes" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "other (2 languages)"
    # The stacked bar of English ends at its total bytes.
    en_ends = [
        p.get_x() + p.get_width() for p in bars if abs(p.get_y() + p.get_height() / 2) < 1e-9
    ]
    assert max(en_ends) == 950


def _metrics():
    rows = []
    for tok, bpt in (("byte", 1.0), ("bpe", 2.0)):
        rows.append(
            dict(
                tokenizer=tok,
                level="overall",
                language="all",
                domain="all",
                n_bytes=1000,
                bytes_per_token=bpt,
                fertility=3.0,
                parity=np.nan,
                renyi_efficiency=0.5,
            )
        )
        for i, lang in enumerate(("en", "de", "ja")):
            rows.append(
                dict(
                    tokenizer=tok,
                    level="language",
                    language=lang,
                    domain="all",
                    n_bytes=100 - i,
                    bytes_per_token=bpt + i,
                    fertility=2.0 + i,
                    parity=1.0 + i / 10 if lang != "ja" else np.nan,
                    renyi_efficiency=0.4,
                )
            )
        rows.append(
            dict(
                tokenizer=tok,
                level="domain",
                language="all",
                domain="news",
                n_bytes=10,
                bytes_per_token=9.0,
                fertility=9.0,
                parity=np.nan,
                renyi_efficiency=0.1,
            )
        )
    return pd.DataFrame(rows)


def test_tokenizer_metrics_one_bar_per_language_and_tokenizer():
    fig = tokenizer_metrics_figure(_metrics(), ["en", "de", "ja"])
    assert len(fig.axes) == len(TOKENIZER_PANELS) == 4
    assert fig.axes[0].get_ylabel() == "bytes per token"
    assert "per word" in fig.axes[1].get_ylabel()
    # all + 3 languages × 2 tokenizers; parity only where defined (en, de).
    assert [len(ax.patches) for ax in fig.axes] == [8, 8, 4, 8]
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    # byte: all 1, en 1, de 2, ja 3; bpe: all 2, en 2, de 3, ja 4 (domain rows left out).
    assert heights == [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 4.0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["byte", "bpe"]
    assert all(ax.get_yscale() == "linear" for ax in fig.axes)  # no outlier: linear axes


def test_segmentation_figure_draws_every_token_on_the_byte_axis():
    segs = [
        {
            "probe_id": "typos-0",
            "kind": "typos",
            "text": "héllo",
            "n_bytes": 6,
            "tokenizers": {"byte": [[i, i + 1] for i in range(6)], "bpe": [[0, 3], [3, 6]]},
        },
        {
            "probe_id": "digits-0",
            "kind": "digits",
            "text": "12 34",
            "n_bytes": 5,
            "tokenizers": {"byte": [[i, i + 1] for i in range(5)], "bpe": [[0, 2], [2, 5]]},
        },
    ]
    fig = segmentation_figure(segs)
    assert len(fig.axes) == 2
    assert [len(ax.patches) for ax in fig.axes] == [8, 7]
    assert fig.axes[0].get_xlabel() == "UTF-8 bytes"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["byte (6 tok)", "bpe (2 tok)"]
    widths = sorted(p.get_width() for p in fig.axes[1].patches)
    assert widths == [1, 1, 1, 1, 1, 2, 3]
    assert "hé" in [t.get_text() for t in fig.axes[0].texts]


def test_training_curves_one_line_per_run_against_bytes():
    rows = []
    for model in ("byte", "bpe"):
        for seed in (0, 1):
            for step in (5, 10, 15):
                rows.append(
                    dict(
                        model=model,
                        seed=seed,
                        step=step,
                        bytes=step * 100,
                        loss=5.0 - step / 10,
                        val_bpb=np.nan if step != 15 else 4.0,
                    )
                )
    fig = training_curves_figure(pd.DataFrame(rows))
    loss_ax, bpb_ax = fig.axes
    assert len(loss_ax.lines) == len(bpb_ax.lines) == 4
    assert loss_ax.get_ylabel() == "train loss (nats per token)"
    assert bpb_ax.get_ylabel() == "validation bits per byte"
    assert "bytes" in loss_ax.get_xlabel() and "bytes" in bpb_ax.get_xlabel()
    np.testing.assert_array_equal(
        np.asarray(loss_ax.lines[0].get_xdata(), float), [500, 1000, 1500]
    )
    assert len(bpb_ax.lines[0].get_xdata()) == 1  # val rows only

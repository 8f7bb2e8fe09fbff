"""Figure defects seen in a real report: each test fails on the figure as it was drawn then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokattn.report import figures_attention as fa
from tokattn.report import figures_compare as fc
from tokattn.report import figures_eval as fe
from tokattn.report.figures_tokenizers import tokenizer_metrics_figure, wants_log_axis
from tokattn.report.figures_training import training_curves_figure

from .conftest import compare_rows, summary_rows


def _overlaps(a, b) -> bool:
    """Whether two display-space boxes share area."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _legend_clear_of_axes(fig) -> None:
    """Exactly one figure legend, no axes legend, and it covers no axes."""
    fig.draw_without_rendering()
    assert len(fig.legends) == 1
    assert all(ax.get_legend() is None for ax in fig.axes)
    box = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not _overlaps(box, ax.get_window_extent()), ax.get_title()


def test_identical_training_curves_stay_distinguishable():
    # bpe_1k and its byte-branch twin log the same validation bits per byte.
    rows = [
        dict(model=m, seed=0, step=k, bytes=k * 100, loss=5.0 - k / 10, val_bpb=6.0 - k / 10)
        for m in ("bpe_1k", "bpe_1k_bb")
        for k in range(10)
    ]
    fig = training_curves_figure(pd.DataFrame(rows))
    for ax in fig.axes:
        first, second = ax.lines
        np.testing.assert_array_equal(first.get_ydata(), second.get_ydata())
        assert first.get_marker() != second.get_marker()
        assert first.get_linewidth() > second.get_linewidth()  # the first peeks out
        assert first.get_markersize() > second.get_markersize()
    _legend_clear_of_axes(fig)


def test_js_layers_shows_every_series():
    compare = compare_rows({"byte": 2, "bpe_1k": 2, "bpe_1k_bb": 2, "bbpe_1k": 2})
    # Make two cross pairs coincide exactly, as an arm and its twin do.
    layer = compare["kind"] == "layer"
    compare.loc[layer, "js"] = 0.3
    fig = fc.js_layers_figure(compare)
    (ax,) = fig.axes
    series = [c for c in ax.containers]  # one ErrorbarContainer per model pair
    assert len(series) == 10  # 4 seed-vs-seed floors + 6 cross pairs
    assert len(fig.legends[0].get_texts()) == len(series)
    styles = {
        (line.get_color(), line.get_marker(), str(line.get_linestyle()))
        for line in (c.lines[0] for c in series)
    }
    assert len(styles) == len(series)
    # Equal values at the same depth are drawn at different x: none hides another.
    xs = [tuple(np.round(np.asarray(c.lines[0].get_xdata(), float), 6)) for c in series]
    assert len(set(xs)) == len(series)
    _legend_clear_of_axes(fig)


def _metrics_with_outlier(outlier: float) -> pd.DataFrame:
    rows = []
    for tok in ("byte", "bpe", "wordpiece"):
        rows.append(
            dict(tokenizer=tok, level="overall", language="all", n_bytes=300, bytes_per_token=3.0)
        )
        for lang in ("en", "de", "lo"):
            value = outlier if (tok, lang) == ("wordpiece", "lo") else 3.0
            rows.append(
                dict(
                    tokenizer=tok,
                    level="language",
                    language=lang,
                    n_bytes=100,
                    bytes_per_token=value,
                )
            )
    df = pd.DataFrame(rows)
    return df.assign(fertility=1.2, parity=1.0, renyi_efficiency=0.5)


def test_bytes_per_token_outlier_gets_a_log_axis():
    fig = tokenizer_metrics_figure(_metrics_with_outlier(66.0), ["en", "de", "lo"])
    bpt = fig.axes[0]
    assert bpt.get_yscale() == "log" and "log scale" in bpt.get_ylabel()
    assert [ax.get_yscale() for ax in fig.axes[1:]] == ["linear"] * 3
    # Rényi efficiency lies in [0, 1]: never a log axis, even when it spans ×10.
    metrics = _metrics_with_outlier(66.0)
    metrics.loc[metrics["tokenizer"] == "wordpiece", "renyi_efficiency"] = 0.04
    assert tokenizer_metrics_figure(metrics, ["en", "de", "lo"]).axes[3].get_yscale() == "linear"
    fig = tokenizer_metrics_figure(_metrics_with_outlier(4.0), ["en", "de", "lo"])
    assert fig.axes[0].get_yscale() == "linear"
    assert wants_log_axis(np.array([3.0, 66.0, np.nan])) and not wants_log_axis(np.array([3.0]))
    _legend_clear_of_axes(fig)


def test_head_grid_and_word_maps_have_a_shared_colour_bar():
    maps = np.full((2, 3, 4, 4), 0.25)
    for fig in (
        fa.head_grid_figure(maps, list("abcd"), "m"),
        fa.word_maps_figure({"a": maps, "b": maps}, list("wxyz"), "p"),
    ):
        bars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
        assert len(bars) == 1
        assert bars[0]._colorbar.vmin == 0 and bars[0]._colorbar.vmax == 1
        assert "0–1" in bars[0].get_ylabel()


def test_matched_heads_matrix_fills_the_panel_width():
    fig = fc.matched_heads_figure(compare_rows())
    fig.draw_without_rendering()
    panels = [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]
    matrix, bars = panels[0], panels[1]
    # No blank band on the left: the matrix starts where the bar panels start.
    assert matrix.get_position().x0 == pytest.approx(bars.get_position().x0, abs=0.03)
    assert len(matrix.texts) == len(matrix.get_images()[0].get_array().compressed())


@pytest.mark.parametrize(
    "draw",
    [
        lambda s: fe.bpb_figure(s, 5.0),
        lambda s: fe.inference_figure(s),
        lambda s: fe.memory_figure(s),
        lambda s: fe.rouge_figure(s),
    ],
    ids=["bpb", "inference", "memory", "rouge"],
)
def test_benchmark_legends_sit_outside_the_bars(draw):
    _legend_clear_of_axes(draw(summary_rows(["byte", "bpe_1k", "bpe_1k_bb", "bbpe_1k", "wp"])))


def test_corpus_legend_sits_outside_the_bars():
    from tokattn.report.figures_corpus import corpus_bytes_figure

    df = pd.DataFrame(
        {
            "language": ["en", "en", "de", "lo"],
            "domain": ["news", "legal", "news", "web"],
            "documents": [3, 1, 2, 1],
            "bytes": [900, 400, 800, 50],
        }
    )
    _legend_clear_of_axes(corpus_bytes_figure(df))

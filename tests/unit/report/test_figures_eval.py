"""Benchmark figures: one series per model, CI whiskers exactly as summary.csv gives them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from tokattn.report import figures_eval as fe

from .conftest import MODELS, summary_rows


def _errorbars(ax):
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _whisker_ranges(container) -> list[tuple[float, float]]:
    (segments,) = [lc.get_segments() for lc in container.lines[2]]
    return sorted((float(s[:, 1].min()), float(s[:, 1].max())) for s in segments)


def test_bpb_bars_and_whiskers_match_summary(summary):
    fig = fe.bpb_figure(summary)
    lang_ax, dom_ax = fig.axes
    assert "bits per byte" in lang_ax.get_ylabel()
    # One bar series and one CI series per model; 'all' + 3 languages, 'all' + 2 domains.
    for ax, n_cat in ((lang_ax, 4), (dom_ax, 3)):
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert [b.get_label() for b in bars] == MODELS
        assert all(len(b) == n_cat for b in bars)
        assert len(_errorbars(ax)) == len(MODELS)
    expected = summary[
        (summary.task == "lm")
        & (summary.metric == "bits_per_byte")
        & (summary.domain == "all")
        & (summary.model == "bpe")
    ]
    got = _whisker_ranges(_errorbars(lang_ax)[1])
    want = sorted(zip(expected.ci_low, expected.ci_high, strict=True))
    np.testing.assert_allclose(got, want)
    heights = sorted(p.get_height() for p in lang_ax.containers[2])  # second BarContainer
    np.testing.assert_allclose(heights, sorted(expected["mean"]))


def test_a_model_missing_from_summary_is_missing_from_the_figure():
    fig = fe.bpb_figure(summary_rows(models=["byte", "bpe"]))
    assert len(_errorbars(fig.axes[0])) == 2


def test_memory_curves_against_distance_in_bytes(summary):
    fig = fe.memory_figure(summary)
    assert len(fig.axes) == 2
    for ax, metric in zip(fig.axes, ("ll_accuracy", "exact_match"), strict=True):
        assert "bytes" in ax.get_xlabel()
        containers = _errorbars(ax)
        assert [c.get_label() for c in containers] == MODELS
        for container, model in zip(containers, MODELS, strict=True):
            x, y = container.lines[0].get_data()
            np.testing.assert_array_equal(np.asarray(x, float), [32, 128, 512])
            y = np.asarray(y, float)
            rows = summary[
                (summary.task == "memory")
                & (summary.metric == metric)
                & (summary.model == model)
                & (summary.subtask == "all")
                & (summary.distance_bytes != "all")
            ]
            rows = rows.assign(d=rows.distance_bytes.astype(int)).sort_values("d")
            np.testing.assert_allclose(y, rows["mean"])
            want = sorted(zip(rows.ci_low, rows.ci_high, strict=True))
            np.testing.assert_allclose(_whisker_ranges(container), want)


@pytest.mark.parametrize(("func", "n_cat"), [(fe.inference_figure, 4), (fe.rouge_figure, 3)])
def test_inference_and_rouge_bars_with_ci(summary, func, n_cat):
    fig = func(summary)
    (ax,) = fig.axes
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [len(b) for b in bars] == [n_cat] * len(MODELS)
    assert len(_errorbars(ax)) == len(MODELS)
    assert "95 % CI" in ax.get_title()


def test_empty_task_gives_a_note_not_an_error(summary):
    fig = fe.rouge_figure(summary[summary.task != "summarization"])
    assert "no ROUGE F1 rows" in fig.axes[0].texts[0].get_text()


def test_headline_table_cells_are_mean_and_ci(summary):
    table = fe.headline_table(summary)
    assert list(table["model"]) == MODELS
    row = summary[
        (summary.model == "bbpe")
        & (summary.task == "lm")
        & (summary.metric == "bits_per_byte")
        & (summary.language == "all")
        & (summary.domain == "all")
    ].iloc[0]
    cell = table.loc[table.model == "bbpe", "lm bits_per_byte"].iloc[0]
    assert cell == f"{row['mean']:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"


def _chance_lines(ax):
    return [c for c in ax.collections + ax.lines if "chance" in str(c.get_label())]


def test_chance_levels_are_drawn(summary):
    import pandas as pd

    chance = pd.DataFrame(
        {
            "task": ["inference"] * 3 + ["memory"] * 2,
            "metric": ["accuracy"] * 3 + ["ll_accuracy", "exact_match"],
            "subtask": ["all", "addition", "cloze", "all", "all"],
            "chance": [0.3, 0.25, 0.5, 0.2, 0.0],
        }
    )
    ax = fe.inference_figure(summary, chance=chance).axes[0]
    (segments,) = _chance_lines(ax)  # one LineCollection: 'all', addition, cloze (no ordering)
    ys = sorted(float(seg[0, 1]) for seg in segments.get_segments())
    assert ys == pytest.approx([0.25, 0.3, 0.5])
    ll_ax, em_ax = fe.memory_figure(summary, chance=chance).axes
    assert [line.get_ydata()[0] for line in _chance_lines(ll_ax)] == [0.2]
    assert [line.get_ydata()[0] for line in _chance_lines(em_ax)] == [0.0]
    lang_ax = fe.bpb_figure(summary, unigram_bits=4.5).axes[0]
    (line,) = [x for x in lang_ax.lines if "order-0" in str(x.get_label())]
    assert line.get_ydata()[0] == 4.5
    assert line.get_label() == "order-0 byte entropy 4.50"
    assert "no chance level" in fe.rouge_figure(summary).axes[0].get_title()


def test_all_zero_scores_give_a_notice_not_an_empty_chart(summary):
    zero = summary.copy()
    rouge = zero.task == "summarization"
    zero.loc[rouge, ["mean", "ci_low", "ci_high"]] = 0.0
    ax = fe.rouge_figure(zero).axes[0]
    assert not [c for c in ax.containers if isinstance(c, BarContainer)]
    assert "0 for every model (3 models, 2 seeds)" in ax.texts[0].get_text()
    exact = (zero.task == "memory") & (zero.metric == "exact_match")
    zero.loc[exact, ["mean", "ci_low", "ci_high"]] = 0.0
    ll_ax, em_ax = fe.memory_figure(zero).axes
    assert "memory exact_match: 0 for every model" in em_ax.texts[0].get_text()
    assert _errorbars(ll_ax) and not _errorbars(em_ax)


def test_titles_give_the_seed_count_and_warn_below_three():
    two = fe.bpb_figure(summary_rows(n_seeds=2)).axes[0].get_title()
    assert "2 seeds; < 3 seeds: CI not worth reading" in two
    three = fe.bpb_figure(summary_rows(n_seeds=3)).axes[0].get_title()
    assert "3 seeds" in three and "not worth reading" not in three

"""Attention figures: grid shape, models side by side, per-model distributions, JS curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.image import AxesImage
from matplotlib.patches import PathPatch

from tokattn.report import figures_attention as fa
from tokattn.report import figures_compare as fc

from .conftest import MODELS, heads_rows


def _causal(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    maps = np.tril(rng.random((*shape, n, n))) + 1e-9
    return maps / maps.sum(-1, keepdims=True)


def panel_axes(fig):
    """The figure's axes without colour bars."""
    return [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]


def test_span_labels_decode_each_tokens_bytes():
    text = "héllo wörld"
    spans = np.array([[0, 0], [0, 3], [3, 6], [6, 13]])
    assert fa.span_labels(text, spans) == ["∅", "hé", "llo", "·wörld"]


def test_head_grid_has_one_map_per_layer_and_head():
    maps = _causal((3, 4), 6)
    fig = fa.head_grid_figure(maps, list("abcdef"), "m")
    panels = panel_axes(fig)
    assert len(panels) == 12
    titles = [ax.get_title() for ax in panels]
    assert titles[0] == "L0 H0" and titles[-1] == "L2 H3"
    for ax, (layer, head) in zip(panels, np.ndindex(3, 4), strict=True):
        (image,) = [a for a in ax.get_children() if isinstance(a, AxesImage)]
        np.testing.assert_allclose(image.get_array(), maps[layer, head])
    assert "per token" in fig._suptitle.get_text()


def test_word_maps_side_by_side_across_models_of_different_depth():
    maps = {"byte": _causal((2, 3), 5), "bpe": _causal((2, 2), 5, 1), "deep": _causal((3, 2), 5)}
    fig = fa.word_maps_figure(maps, ["w"] * 5, "p")
    panels = panel_axes(fig)
    assert len(panels) == 9  # 3 layers (deepest model) × 3 models
    visible = [ax for ax in panels if ax.axison]
    assert len(visible) == 2 + 2 + 3
    titles = {ax.get_title() for ax in visible}
    assert {"byte L0", "bpe L1", "deep L2"} <= titles
    (image,) = [a for a in visible[0].get_children() if isinstance(a, AxesImage)]
    np.testing.assert_allclose(image.get_array(), maps["byte"][0].mean(0))  # mean over heads


def test_head_stats_one_box_per_model_in_each_panel():
    heads = heads_rows()
    fig = fa.head_stats_figure(heads)
    assert len(fig.axes) == 5  # four statistics, then induction with its query counts
    ticks = [t.get_text() for t in fig.axes[4].get_xticklabels()]
    assert ticks == [f"{m}\nn=7" for m in MODELS]
    assert fa.head_stats_figure(heads.drop(columns="induction_score")).axes.__len__() == 4
    # Only tokenizer-independent statistics are plotted.
    assert [c for c, _ in fa.HEAD_STAT_PANELS] == [
        "entropy_norm_word",
        "distance_words",
        "word_projected_mass",
        "contribution_additive",
    ]
    assert "words" in fig.axes[1].get_ylabel()
    for ax in fig.axes[:4]:
        assert sum(isinstance(p, PathPatch) for p in ax.patches) == len(MODELS)
        assert [t.get_text() for t in ax.get_xticklabels()] == MODELS
    # The box of a model spans its quartiles (computed independently).
    values = heads.loc[heads.model == "bpe", "distance_words"]
    box = [p for p in fig.axes[1].patches if isinstance(p, PathPatch)][1]
    ys = box.get_path().vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], np.percentile(values, [25, 75]))


def test_cross_attention_one_panel_per_cross_layer_mean_over_heads():
    cross = np.random.default_rng(0).random((2, 3, 4, 9))  # [n_cross, head, token, byte]
    fig = fa.cross_attention_figure(cross, [0, 3], list("abcd"), list("012345678"), "m")
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "key byte"]
    assert len(panels) == 2 and len(fig.axes) == 4  # two maps, two colour bars
    for i, ax in enumerate(panels):
        (image,) = [a for a in ax.get_children() if isinstance(a, AxesImage)]
        np.testing.assert_allclose(image.get_array(), cross[i].mean(0))
    assert "layer 3" in panels[1].get_title()


def test_same_depth_js_pairs_layers_by_relative_depth(compare):
    rows = fc.same_depth_js(compare)
    # bbpe (4 layers) vs byte (2 layers): bbpe layer 0 (depth .125) ↔ byte layer 0 (.25).
    sel = rows[
        (rows.model_a == "bbpe")
        & (rows.model_b == "byte")
        & (rows.seed_a == 0)
        & (rows.seed_b == 0)
    ]
    assert sel.sort_values("layer_a")["layer_b"].tolist() == [0, 0, 1, 1]
    # Pairs written as (byte, bbpe) are swapped so model_a <= model_b.
    assert (rows.model_a <= rows.model_b).all()


def test_js_layers_one_curve_per_model_pair_plus_noise_floors(compare):
    fig = fc.js_layers_figure(compare)
    (ax,) = fig.axes
    labels = [c.get_label() for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert sorted(labels) == sorted(
        ["bbpe vs bpe", "bbpe vs byte", "bpe vs byte"]
        + [f"{m}: seed vs seed (noise floor)" for m in MODELS]
    )
    assert "bits" in ax.get_ylabel()


def test_matched_heads_matrix_then_one_panel_per_model_pair(compare):
    fig = fc.matched_heads_figure(compare)
    matrix_ax = fig.axes[0]
    panels = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("Matched heads")]
    assert len(panels) == 3 and len(fig.axes) == 5  # matrix, 3 pairs, colour bar
    (image,) = [a for a in matrix_ax.get_children() if isinstance(a, AxesImage)]
    grid = image.get_array()
    assert grid.shape == (3, 3)
    # Cell (bbpe, byte): mean over all four seed pairs, whichever order the rows list them.
    rows = compare[
        (compare.kind == "head_match")
        & ({"bbpe", "byte"} == compare[["model_a", "model_b"]].apply(set, axis=1))
    ]
    assert grid[0, 2] == grid[2, 0] == pytest.approx(rows.js.mean())
    same = compare[
        (compare.kind == "head_match") & (compare.model_a == "bpe") & (compare.model_b == "bpe")
    ]
    assert grid[1, 1] == pytest.approx(same.js.mean())
    matches = fc.matched_heads(compare)
    for ax in panels:
        words = ax.get_title(loc="left").split()
        a, b = words[2], words[6]
        n = len(matches[(matches.model_a == a) & (matches.model_b == b)])
        assert len(ax.patches) == n > 0
        assert {line.get_label() for line in ax.lines} == {
            f"{a}: seed vs seed",
            f"{b}: seed vs seed",
        }
    assert set(matches.seed_a) == {0} and set(matches.seed_b) == {0}
    few = fc.matched_heads_figure(compare, max_pair_panels=1)
    assert len(few.axes) == 3  # matrix, its colour bar, one pair


def test_js_layers_without_pairs_says_so():
    fig = fc.js_layers_figure(pd.DataFrame(columns=["kind", "model_a", "model_b", "js"]))
    assert "no layer comparisons" in fig.axes[0].texts[0].get_text()

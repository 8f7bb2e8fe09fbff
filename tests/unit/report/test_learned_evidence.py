"""Evidence that the models learned: head types, entropy distribution, bpb baseline and gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tokattn.report import figures_attention as fa
from tokattn.report import figures_eval as fe
from tokattn.report.head_types import HEAD_TYPES, PREV_TOKEN_THRESHOLD, head_types_table

from .conftest import summary_rows


def _heads(layers=2, heads=4, seeds=(0, 1)) -> pd.DataFrame:
    """Arm 'learned': one strong head per type at a known place; arm 'uniform': none."""
    rows = []
    for arm in ("learned", "uniform"):
        for s in seeds:
            for layer in range(layers):
                for h in range(heads):
                    flat = 1 / 8  # uniform attention over 8 keys
                    row = dict(
                        model=arm,
                        seed=s,
                        layer=layer,
                        head=h,
                        prev_token_score_per_token=flat,
                        prev_word_score=flat,
                        sink_score=flat,
                        induction_score=flat / 2,
                        induction_n_queries=40 + s,
                        entropy_norm_word=0.99,
                        entropy_norm_per_token=0.995,
                    )
                    if arm == "learned":
                        row["entropy_norm_word"] = 0.4 + 0.05 * h
                        row["entropy_norm_per_token"] = 0.3 + 0.05 * h
                        if (layer, h) == (0, 1):
                            row["prev_token_score_per_token"] = 0.9 - 0.1 * s
                        if (layer, h) == (1, 2):
                            row["induction_score"] = 0.7
                        if layer == 1 and h in (0, 3):  # two sink heads
                            row["sink_score"] = 0.8
                    rows.append(row)
    return pd.DataFrame(rows)


def test_head_types_find_the_planted_heads_and_none_in_a_uniform_arm():
    table = head_types_table(_heads()).set_index(["arm", "head type"])
    prev = table.loc[("learned", "previous token")]
    assert prev["best head per seed"] == "seed 0: L0.H1 0.90; seed 1: L0.H1 0.80"
    assert prev["best score (mean over seeds)"] == pytest.approx(0.85)
    assert prev["heads ≥ threshold (mean)"] == 1 and prev["threshold"] == PREV_TOKEN_THRESHOLD
    assert prev["frame"] == "per token"
    sink = table.loc[("learned", "sink (BOS mass)")]
    assert sink["heads ≥ threshold per seed"] == "2; 2"
    assert sink["best head per seed"].startswith("seed 0: L1.H0 0.80")
    induction = table.loc[("learned", "induction")]
    assert induction["best head per seed"] == "seed 0: L1.H2 0.70; seed 1: L1.H2 0.70"
    assert induction["induction queries per seed"] == "40; 41"
    assert table.loc[("learned", "previous word"), "frame"] == "word frame"
    for kind in HEAD_TYPES:
        row = table.loc[("uniform", kind.name)]
        assert row["heads ≥ threshold (mean)"] == 0
        assert row["best score (mean over seeds)"] < kind.threshold
    assert (table["heads per seed"] == "8").all()


def test_head_types_skip_absent_columns_and_empty_input():
    heads = _heads().drop(columns=["induction_score", "induction_n_queries"])
    assert "induction" not in set(head_types_table(heads)["head type"])
    assert head_types_table(pd.DataFrame()).empty


def test_entropy_distribution_per_arm_with_the_gate_threshold():
    heads = _heads()
    fig = fa.head_entropy_figure(heads, 0.95)
    word, token = fig.axes
    assert "comparable across tokenizers" in word.get_title()
    assert "not comparable" in token.get_title()
    for ax, column in ((word, "entropy_norm_word"), (token, "entropy_norm_per_token")):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["learned", "uniform"]
        assert len(ax.collections[0].get_paths()) == 1  # one violin body per arm
        medians = ax.collections[-1].get_offsets()[:, 1]  # the median dots
        expected = heads.groupby("model", sort=False)[column].median().to_numpy()
        np.testing.assert_allclose(medians, expected)
        (gate,) = [line for line in ax.lines if "learned gate" in str(line.get_label())]
        assert gate.get_ydata()[0] == 0.95
    empty = fa.head_entropy_figure(heads.drop(columns=fa.ENTROPY_PANELS[1][0]), 0.95)
    assert len(empty.axes) == 1  # the word frame alone


def test_headline_tables_split_per_task_with_the_bpb_baseline_and_gap():
    summary = summary_rows()
    tables = fe.headline_tables(summary, unigram_bits=5.0)
    assert list(tables) == ["lm", "inference", "memory", "summarization"]
    assert max(len(t.columns) for t in tables.values()) <= 7  # fits a 1400 px window
    lm = tables["lm"].set_index("model")
    bpb = fe.select(summary, "lm", "bits_per_byte").set_index("model")["mean"]
    for model in lm.index:
        assert lm.loc[model, "order-0 byte entropy"] == "5.000"
        assert lm.loc[model, "gap (entropy − bits_per_byte)"] == f"{5.0 - bpb[model]:.3f}"
    assert "order-0 byte entropy" not in fe.headline_tables(summary)["lm"]

"""tools/findings_doc.py: its tables hold the numbers of the files it reads, unchanged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def doc():
    spec = importlib.util.spec_from_file_location(
        "findings_doc", REPO / "tools" / "findings_doc.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lm_row(model, language, mean, n_items):
    return {
        "model": model,
        "task": "lm",
        "metric": "bits_per_byte",
        "subtask": "all",
        "language": language,
        "domain": "all",
        "distance_bytes": "all",
        "n_items": n_items,
        "mean": mean,
        "ci_low": mean - 0.1,
        "ci_high": mean + 0.2,
    }


def test_bpb_table_keeps_languages_with_enough_documents_most_first(doc):
    rows = [
        _lm_row("byte", "all", 3.0, 40),
        _lm_row("bpe", "all", 2.5, 40),
        _lm_row("byte", "en", 2.9, 30),
        _lm_row("bpe", "en", 2.4, 30),
        _lm_row("byte", "xx", 5.0, 2),
        _lm_row("bpe", "xx", 6.0, 2),
    ]
    table = doc.bpb_table(pd.DataFrame(rows), "language", min_docs=10)
    assert list(table["language"]) == ["all", "en"]
    assert table.loc[1, "byte"] == "2.900 [2.800, 3.100]"
    assert table.loc[1, "bpe"] == "2.400 [2.300, 2.600]"
    assert list(table["test docs"]) == [40, 30]


def test_entropy_quantiles_match_numpy(doc):
    rng = np.random.default_rng(0)
    values = rng.uniform(0.2, 1.0, 48)
    heads = pd.DataFrame(
        {"model": "a", "entropy_norm_word": values, "entropy_norm_per_token": values / 2}
    )
    table = doc.entropy_table(heads).set_index("frame")
    assert table.loc["word frame", "median"] == pytest.approx(np.median(values))
    assert table.loc["word frame", "p90"] == pytest.approx(np.quantile(values, 0.9))
    assert table.loc["word frame", "share < 0.95"] == pytest.approx((values < 0.95).mean())
    assert table.loc["per token", "median"] == pytest.approx(np.median(values / 2))


def test_markdown_table_escapes_pipes_and_marks_missing(doc):
    text = doc.markdown_table(pd.DataFrame({"a": ["x|y"], "b": [float("nan")], "c": [1.23456]}))
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x\\|y | – | 1.235 |"]


def test_missing_inputs_name_the_files(doc, tmp_path, capsys):
    with pytest.raises(SystemExit):
        doc.main([str(tmp_path)])
    assert "findings.csv" in capsys.readouterr().err

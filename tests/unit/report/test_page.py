"""index.html: self-contained, every local link exists, tables and text from the files."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd
import pytest

from tokattn.report.loading import ReportInputError
from tokattn.report.page import build_page, check_local_links
from tokattn.report.style import new_figure, save_figure
from tokattn.report.text import caveats

from .conftest import compare_rows, summary_rows

CONFIG = {
    "experiment": "unit <tiny>",
    "seeds": [0, 1],
    "models": [
        {
            "name": "byte",
            "tokenizer": "byte",
            "n_layers": 2,
            "n_heads": 4,
            "d_model": 64,
            "context_bytes": 256,
        }
    ],
    "training": {"budget_bytes": 60000},
}
STATS = {
    "splits": {
        split: {
            "documents": 3,
            "bytes": 1000,
            "by_domain": {
                "news": {"documents": 2, "bytes": 700},
                "legal": {"documents": 1, "bytes": 300},
            },
            "by_language": {
                "en": {"documents": 2, "bytes": 700},
                "de": {"documents": 1, "bytes": 300},
            },
            "by_language_domain": {},
        }
        for split in ("train", "val", "test")
    }
}


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src")]


@pytest.fixture
def results(tmp_path) -> dict:
    root = tmp_path / "results"
    (root / "corpus").mkdir(parents=True)
    (root / "corpus/stats.json").write_text(json.dumps(STATS))
    summary = root / "eval/summary.csv"
    summary.parent.mkdir()
    summary_rows().to_csv(summary, index=False)
    compare = root / "analysis/compare.parquet"
    compare.parent.mkdir()
    compare_rows().to_parquet(compare)
    train = root / "models/byte/seed0/train_summary.json"
    train.parent.mkdir(parents=True)
    train.write_text(
        json.dumps(
            {
                "model": "byte",
                "seed": 0,
                "tokenizer": "byte",
                "params": {"non_embedding": 100672},
                "bytes_seen": 60119,
                "tokens_seen": 60395,
                "final_val_bpb": 4.9,
            }
        )
    )
    figures = {}
    for name in ("corpus_bytes", "bpb", "head_grid"):
        fig, _ = new_figure()
        figures[name] = [save_figure(fig, root / f"report/figures/{name}.png", dpi=20)]
    viewer = root / "report/viewer/byte_seed0.html"
    viewer.parent.mkdir(parents=True)
    viewer.write_text("<html></html>")
    return dict(
        root=root, summary=summary, compare=compare, train=train, figures=figures, viewer=viewer
    )


def test_page_links_only_existing_local_files(results):
    out = results["root"] / "report/index.html"
    build_page(
        out,
        CONFIG,
        results["root"] / "corpus/stats.json",
        results["figures"],
        train_summary_paths=[results["train"]],
        summary_path=results["summary"],
        compare_path=results["compare"],
        viewer_pages=[results["viewer"]],
    )
    page = out.read_text()
    parser = Links()
    parser.feed(page)
    assert sorted(parser.links) == sorted(
        ["figures/corpus_bytes.png"] * 2
        + ["figures/bpb.png"] * 2
        + ["figures/head_grid.png"] * 2
        + ["viewer/byte_seed0.html"]
        + [f"#{s}" for s in ("summary", "corpus", "training", "attention", "benchmarks", "viewer")]
    )
    for link in parser.links:
        assert not link.startswith(("http:", "https:", "//"))
        assert link.startswith("#") or (out.parent / link).is_file()
    assert "script" not in parser.tags and "<style>" in page
    assert "unit &lt;tiny&gt;" in page  # escaped
    assert "100672" in page and "bits/byte" in page
    assert "mean [95 % CI low, high]" in page
    assert "Caveat: a training budget of 60.0 kB" in page
    assert not list(out.parent.glob(".index.html.tmp*"))


def test_missing_figure_is_an_error_naming_it(results):
    missing = {"bpb": [results["root"] / "report/figures/nope.png"]}
    with pytest.raises(ReportInputError, match="nope.png"):
        build_page(
            results["root"] / "report/index.html",
            CONFIG,
            results["root"] / "corpus/stats.json",
            missing,
        )
    assert not (results["root"] / "report/index.html").exists()


def test_link_check_refuses_network_and_missing_files(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    assert check_local_links('<img src="a.png"><a href="#x">x</a>', tmp_path) == ["a.png", "#x"]
    with pytest.raises(ReportInputError, match="off disk"):
        check_local_links('<script src="https://cdn.example/x.js"></script>', tmp_path)
    with pytest.raises(ReportInputError, match="missing"):
        check_local_links('<a href="b.html">b</a>', tmp_path)


def test_caveats_follow_the_data():
    summary = summary_rows()
    zero = (summary.task == "memory") & (summary.metric == "exact_match")
    summary.loc[zero, ["mean", "ci_low", "ci_high"]] = 0.0
    text = " ".join(caveats(CONFIG, summary))
    assert "memory exact_match is 0 for every model" in text
    assert "fewer than three seeds" in text
    big = {**CONFIG, "seeds": [0, 1, 2], "training": {"budget_bytes": 10**10}}
    text = " ".join(caveats(big, summary_rows()))
    assert "chance" not in text and "seeds" not in text
    assert "per token" in text


def test_bad_inputs_name_the_file(tmp_path):
    from tokattn.report.loading import load_json, load_table, select_probe

    with pytest.raises(ReportInputError, match="stats.json: no such file"):
        load_json(tmp_path / "stats.json")
    bad = tmp_path / "summary.csv"
    pd.DataFrame({"model": ["a"]}).to_csv(bad, index=False)
    with pytest.raises(ReportInputError, match=r"summary.csv: missing column\(s\) mean"):
        load_table(bad, ["model", "mean"])
    probes = [{"id": "c-0", "kind": "corpus"}, {"id": "s-0", "kind": "simple"}]
    assert select_probe(probes, None, "simple")["id"] == "s-0"
    assert select_probe(probes, "c-0", "simple")["id"] == "c-0"
    assert select_probe(probes, None, "typos")["id"] == "c-0"
    with pytest.raises(ReportInputError, match="report.probe_id"):
        select_probe(probes, "x", "simple")


def test_summary_sentences_state_budget_mix_and_arms():
    from tokattn.report.text import summary_sentences

    config = {
        **CONFIG,
        "models": [
            *CONFIG["models"],
            {
                "name": "bb",
                "tokenizer": "bpe",
                "n_layers": 2,
                "n_heads": 4,
                "d_model": 64,
                "context_tokens": 128,
                "byte_branch": {"d_model": 32, "n_layers": 1},
            },
        ],
    }
    runs = [
        {
            "model": "bb",
            "seed": s,
            "bytes_seen": 60100 + s,
            "params": {"non_embedding": 100672, "byte_branch": 27105},
        }
        for s in (0, 1)
    ]
    text = summary_sentences(config, STATS, runs, None)
    assert text[0] == "Experiment 'unit <tiny>': 2 trained arm(s) × 2 seed(s) (0, 1)."
    assert "news 70.0 %, legal 30.0 %" in text[2] and "en 70.0 %, de 30.0 %" in text[2]
    (bb,) = [t for t in text if t.startswith("Arm bb")]
    assert "context 128 tokens" in bb and "100,672 non-embedding parameters" in bb
    assert "a byte-level branch (27,105 parameters, counted apart)" in bb
    assert "60.1 kB to 60.1 kB of text seen per seed" in bb


def test_findings_open_the_page_and_warn_on_attention_figures(results):
    from tokattn.report.findings import FINDINGS_COLUMNS
    from tokattn.report.learned_gate import GATE_COLUMNS

    report = results["root"] / "report"
    figures = dict(results["figures"])
    for name in ("head_grid_byte", "head_grid_bpe", "head_stats"):
        fig, _ = new_figure()
        save_figure(fig, report / f"figures/{name}.png", dpi=20)
    figures["head_grid"] = [
        report / "figures/head_grid_byte.png",
        report / "figures/head_grid_bpe.png",
    ]
    figures["head_stats"] = [report / "figures/head_stats.png"]
    row = dict(zip(FINDINGS_COLUMNS, ["bits per byte", "per byte", "overall", "bpe", "byte", 3,
               1.5, 2.5, -1.0, -1.2, -0.8, 8.0, "differs", ""], strict=True))  # fmt: skip
    noise = {**row, "measure": "sink mass", "frame": "word frame", "verdict": "within seed noise",
             "effect_size": 0.3, "caveat": "no attention conclusion: byte did not learn"}  # fmt: skip
    pd.DataFrame([row, noise]).to_csv(report / "findings.csv", index=False)
    gate = pd.DataFrame(
        [
            ["byte", 4.3, 4.5, 0.2, 0.99, False, "test bits per byte 4.300 is within 0.5 bits"],
            ["bpe", 1.5, 4.5, 3.0, 0.6, True, ""],
        ],
        columns=GATE_COLUMNS,
    )
    gate.to_csv(report / "learned_gate.csv", index=False)
    out = report / "index.html"
    build_page(
        out,
        CONFIG,
        results["root"] / "corpus/stats.json",
        figures,
        summary_path=results["summary"],
        findings_path=report / "findings.csv",
        gate_path=report / "learned_gate.csv",
    )
    page = out.read_text()
    # Findings is the first section, generated from the rows.
    assert page.index('<section id="findings">') < page.index('<section id="summary">')
    findings = page[page.index('<section id="findings">') : page.index('<section id="summary">')]
    assert "bits per byte (per byte): bpe − byte = -1 [95 % CI -1.2, -0.8] over 3" in findings
    assert "byte did not learn: test bits per byte 4.300 is within 0.5 bits" in findings
    assert "Learned (" in findings and ": bpe." in findings
    assert 'href="findings.csv"' in findings
    # The gate's warning: on byte's head grid and on the shared attention figures, not on bpe's.
    captions = {fig.split('src="')[1].split('"')[0]: fig for fig in page.split("<figure>")[1:]}
    assert "byte did not learn" in captions["figures/head_grid_byte.png"]
    assert "did not learn" not in captions["figures/head_grid_bpe.png"]
    assert "byte did not learn" in captions["figures/head_stats.png"]
    assert "did not learn" not in captions["figures/bpb.png"]


def test_page_tables_fit_and_explain(results, tmp_path):
    from tokattn.report.learned_gate import GATE_COLUMNS

    from .conftest import heads_rows

    root = results["root"]
    heads = root / "analysis/byte/seed0/heads.parquet"
    heads.parent.mkdir(parents=True)
    heads_rows().to_parquet(heads)
    metrics = root / "tokenizers/metrics.csv"
    metrics.parent.mkdir()
    pd.DataFrame(
        [
            dict(tokenizer="wp_1k", kind="wordpiece", level="overall", roundtrip_fidelity=0.005),
            dict(tokenizer="bpe_1k", kind="bpe", level="overall", roundtrip_fidelity=1.0),
        ]
    ).to_csv(metrics, index=False)
    gate = root / "report/learned_gate.csv"
    pd.DataFrame([["byte", 1.5, 4.5, 3.0, 0.6, True, ""]], columns=GATE_COLUMNS).to_csv(
        gate, index=False
    )
    out = root / "report/index.html"
    build_page(
        out,
        CONFIG,
        root / "corpus/stats.json",
        results["figures"],
        metrics_path=metrics,
        summary_path=results["summary"],
        gate_path=gate,
        heads_paths=[heads],
    )
    page = out.read_text()
    # Every table scrolls in its own box; the headline is one table per task.
    assert page.count("<table>") == page.count('<div class="table-wrap"><table>')
    bench = page[page.index('<section id="benchmarks">') :]
    assert [h.split("</h4>")[0] for h in bench.split("<h4>")[1:]] == [
        "lm", "inference", "memory", "summarization"
    ]  # fmt: skip
    assert "order-0 byte entropy" in bench and "4.500" in bench
    assert "not a CI worth reading" in bench  # 2 seeds
    # Head types that emerged, from heads.parquet, with the thresholds stated.
    attention = page[page.index('<section id="attention">') :]
    assert "Head types that emerged" in attention and "previous token 0.5" in attention
    from tokattn.report.head_types import head_types_table

    expected = head_types_table(pd.read_parquet(heads))
    assert len(expected) == 3 * 4  # 3 arms × 4 head types
    for cell in expected["best head per seed"]:
        assert cell in attention  # e.g. "seed 0: L1.H2 0.93; seed 1: L0.H0 0.88"
    # WordPiece's low round-trip is explained, BPE's perfect one is not mentioned.
    assert "Round-trip fidelity of wp_1k (0.005): WordPiece" in page
    assert "bpe_1k (1)" not in page

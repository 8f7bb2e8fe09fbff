"""The real DAG on the tiny config: target `report` (figures, viewer pages, index.html)."""

from __future__ import annotations

import zipfile
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pandas as pd
import pytest

from .conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow

FIXED_FIGURES = {
    "corpus_bytes",
    "tokenizer_metrics",
    "segmentation",
    "training_curves",
    "word_maps",
    "head_stats",
    "head_entropy",
    "js_layers",
    "matched_heads",
    "bpb",
    "inference",
    "memory",
    "rouge",
}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def test_report_page_and_figures(tiny_report, tiny_config):
    report = tiny_report / "results/tiny/report"
    page = (report / "index.html").read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    # Self-contained: no scripts or stylesheets from anywhere, no network links.
    assert "script" not in parser.tags and "link" not in parser.tags
    local = []
    for link in parser.links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc, link
        if parts.path:
            assert (report / parts.path).is_file(), f"broken link {link}"
            local.append(parts.path)
    models = [arm["name"] for arm in tiny_config["models"]]
    figures = {f"figures/{name}.png" for name in FIXED_FIGURES}
    figures |= {f"figures/head_grid_{m}.png" for m in models}
    figures |= {
        f"figures/cross_attention_{arm['name']}.png"
        for arm in tiny_config["models"]
        if arm.get("byte_branch")
    }
    assert {p for p in local if p.startswith("figures/")} == figures
    assert {p for p in local if p.startswith("viewer/")} == {
        f"viewer/{m}_seed{s}.html" for m in models for s in tiny_config["seeds"]
    } | {"viewer/compare.html"}
    for name in figures:
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Numbers come from summary.csv as they are: one headline cell, checked independently.
    summary = pd.read_csv(
        tiny_report / "results/tiny/eval/summary.csv", dtype={"distance_bytes": str}
    )
    row = summary[
        (summary.model == models[0])
        & (summary.task == "lm")
        & (summary.metric == "bits_per_byte")
        & (summary.language == "all")
        & (summary.domain == "all")
    ].iloc[0]
    assert f"{row['mean']:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]" in page
    assert f"Training budget: {tiny_config['training']['budget_bytes'] / 1e3:.1f} kB" in page
    assert "score at or near chance" in page
    # Findings open the page, generated from report/findings.csv and learned_gate.csv.
    assert page.index('<section id="findings">') < page.index('<section id="summary">')
    findings = pd.read_csv(report / "findings.csv")
    gate = pd.read_csv(report / "learned_gate.csv")
    assert set(models) <= set(gate["arm"])
    assert set(findings["verdict"]) <= {"differs", "within seed noise"} | {
        f"not testable ({n} seed{'s' if n != 1 else ''})" for n in range(2)
    }
    assert f"{len(findings)} comparisons" in page
    blocks = {
        f.split('src="')[1].split('"')[0]: f.split("</figure>")[0]
        for f in page.split("<figure>")[1:]
    }
    for arm in gate.loc[gate["learned"] == False, "arm"]:  # noqa: E712 - read back from CSV
        assert f"{arm} did not learn" in page
        grid = blocks.get(f"figures/head_grid_{arm}.png")
        assert grid is None or "did not learn" in grid  # the warning on its attention figure


def test_report_is_up_to_date(tiny_report):
    config = str(tiny_report / "config.yaml")
    proc = run_snakemake(tiny_report, "--configfile", config, "-n", "report")
    assert planned_jobs(proc.output) == [], proc.output[-3000:]


def test_snakemake_report_zip_holds_the_figures(tiny_report, tmp_path):
    config = str(tiny_report / "config.yaml")
    out = tmp_path / "report.zip"
    run_snakemake(tiny_report, "--configfile", config, "--report", str(out), timeout=900)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    for figure in (
        "corpus_bytes.png",
        "bpb.png",
        "memory.png",
        "js_layers.png",
        "training_curves.png",
        "head_grid_byte.png",
    ):
        assert any(name.endswith(figure) for name in names), (figure, names[:20])

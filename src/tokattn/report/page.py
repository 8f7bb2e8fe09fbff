"""Write results/{experiment}/report/index.html: text, tables and figure links, self-contained.

No network: CSS is inline, figures and viewer pages are relative links to files beside
the page, and `check_local_links` refuses a page with any http(s) link or any link to a
file that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd

from tokattn.common.atomic_files import write_text_atomic
from tokattn.report.figures_compare import matched_heads
from tokattn.report.figures_eval import SUMMARY_COLUMNS, headline_tables
from tokattn.report.findings import FINDINGS_COLUMNS
from tokattn.report.findings_text import (
    attention_warning,
    findings_display,
    findings_sentences,
    not_learned,
)
from tokattn.report.head_types import head_types_note, head_types_table
from tokattn.report.learned_gate import GATE_COLUMNS
from tokattn.report.loading import ReportInputError, load_json, load_table, stack_tables
from tokattn.report.tables import (
    corpus_table,
    escape_html,
    roundtrip_note,
    table_html,
    tokenizer_table,
    training_table,
)
from tokattn.report.text import summary_sentences

CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.seg td { text-align: left; font-family: monospace; white-space: pre; }
.tok0 { background: #c6dbef; } .tok1 { background: #fdd0a2; }
nav a { margin-right: 1em; } .note { color: #555; font-size: .9em; }
.warn { color: #8a1c00; font-weight: 600; }
.table-wrap { max-width: 100%; overflow-x: auto; }
.table-wrap td { white-space: nowrap; }
"""

# Figure name → (section, caption shown under it).
FIGURES = {
    "corpus_bytes": ("corpus", "UTF-8 bytes of the train split per language (rows) and domain."),
    "tokenizer_metrics": (
        "tokenizers",
        "Bytes per token, fertility, parity and Rényi efficiency per language on the test "
        "split (bytes per token and fertility go on a log axis when they span more than ×10, "
        "said in the label).",
    ),
    "segmentation": (
        "tokenizers",
        "Segmentation diff: every tokenizer's tokens on each stress probe, along the byte axis.",
    ),
    "training_curves": (
        "training",
        "Train loss (nats per token) and validation bits per byte against training bytes seen.",
    ),
    "head_grid": (
        "attention",
        "Layer × head attention maps of the chosen probe (per token), one colour scale 0–1.",
    ),
    "word_maps": (
        "attention",
        "The chosen probe's maps projected onto words, mean over heads; titles give the "
        "attention mass kept on the text (the rest, on BOS, is dropped before renormalising).",
    ),
    "head_entropy": (
        "attention",
        "Normalised attention entropy of every head (all layers, heads and seeds) per arm, "
        "in the word frame and per token; 1 is uniform attention, the dotted line the "
        "learned gate's 0.95. Per-token entropy is not comparable across tokenizers (a "
        "byte tokenizer spreads attention over more, shorter keys); the word frame is.",
    ),
    "head_stats": (
        "attention",
        "Per-head word-frame entropy and distance, attention mass left on the text, and "
        "additive contribution share, per model (tokenizer-independent statistics).",
    ),
    "js_layers": (
        "attention",
        "Jensen–Shannon divergence (bits) between models' word maps per "
        "layer; dashed: two seeds of one model (noise floor).",
    ),
    "matched_heads": (
        "attention",
        "Optimal one-to-one head matching between models (JS, bits, weighted by the "
        "attention mass both heads kept on the text).",
    ),
    "cross_attention": ("attention", "Token × byte cross-attention of byte-branch arms."),
    "bpb": (
        "benchmarks",
        "LM bits per byte per language and domain, mean ± 95 % CI over seeds (t-interval; "
        "too wide to read with fewer than 3 seeds). Dotted: the order-0 byte entropy of the "
        "test split, what a model that knew only byte frequencies would reach.",
    ),
    "inference": ("benchmarks", "Inference accuracy per subtask, mean ± 95 % CI over seeds."),
    "memory": ("benchmarks", "Memory accuracy against distance in bytes, mean ± 95 % CI."),
    "rouge": ("benchmarks", "Summarization ROUGE F1, mean ± 95 % CI over seeds."),
}
SECTIONS = {
    "findings": "Findings",
    "summary": "Summary",
    "corpus": "Corpus",
    "tokenizers": "Tokenizers",
    "training": "Training",
    "attention": "Attention",
    "benchmarks": "Benchmarks",
    "viewer": "Attention viewer",
}


def segmentation_html(segmentations: Sequence[Mapping]) -> str:
    """Return per stress probe a table: one row of alternating token spans per tokenizer."""
    parts = []
    for seg in segmentations:
        data = seg["text"].encode("utf-8")
        rows = []
        for name, spans in seg["tokenizers"].items():
            toks = "".join(
                f'<span class="tok{i % 2}">'
                f"{escape_html(data[s:e].decode('utf-8', 'replace').replace(chr(10), '⏎'))}</span>"
                for i, (s, e) in enumerate(spans)
            )
            rows.append(f"<tr><th>{escape_html(name)} ({len(spans)})</th><td>{toks}</td></tr>")
        parts.append(
            f"<h4>{escape_html(seg['probe_id'])} ({escape_html(seg['kind'])})</h4>"
            f'<table class="seg">{"".join(rows)}</table>'
        )
    return "".join(parts)


def headline_html(summary: pd.DataFrame, gate: pd.DataFrame | None) -> str:
    """Return the headline tables, one per task; lm with the order-0 byte entropy and gap."""
    unigram = None
    if gate is not None and "unigram_bits" in gate and gate["unigram_bits"].notna().any():
        unigram = float(gate["unigram_bits"].dropna().iloc[0])
    seeds = sorted(set(summary["n_seeds"].astype(int))) if len(summary) else []
    n = "/".join(map(str, seeds)) or "?"
    parts = [
        '<p class="note">Cells: mean [95 % CI low, high] over '
        f"{n} seeds, from eval/summary.csv (Student t-interval over seeds widened by the "
        "item noise; with 1 seed an item bootstrap)."
        + (
            " With fewer than 3 seeds the interval is very wide (t(0.975, 1) = 12.7 for 2): "
            "not a CI worth reading."
            if seeds and min(seeds) < 3
            else ""
        )
        + (
            " lm: the order-0 byte entropy is that of the test split's bytes (a model that "
            "knew only byte frequencies); the gap is how far below it each model got."
            if unigram is not None
            else ""
        )
        + "</p>"
    ]
    for task, table in headline_tables(summary, unigram).items():
        parts.append(f"<h4>{escape_html(task)}</h4>" + table_html(table))
    return "".join(parts)


def _figure_html(path: Path, root: Path, caption: str, alt: str, warning: str = "") -> str:
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    warn = f' <span class="warn">{escape_html(warning)}</span>' if warning else ""
    return (
        f'<figure><a href="{escape_html(rel)}"><img src="{escape_html(rel)}" alt="{escape_html(alt)}"></a>'
        f"<figcaption>{escape_html(caption)}{warn}</figcaption></figure>"
    )


def findings_html(
    findings: pd.DataFrame, gate: pd.DataFrame | None, root: Path, findings_path: str | Path
) -> str:
    """Return the Findings section: sentences, the learned gate, the largest differences."""
    failed = not_learned(gate)
    warn = tuple(f"{arm} did not learn" for arm in failed)
    items = "".join(
        ('<li class="warn">' if warn and s.startswith(warn) else "<li>") + f"{escape_html(s)}</li>"
        for s in findings_sentences(findings, gate)
    )
    parts = [
        '<p class="note">Generated from the numbers: for each pair of arms, the paired '
        "difference over seeds (seeds paired by index) with its 95 % t-interval; "
        '"differs" when the interval excludes 0. Measures marked "per token" are compared '
        "only between arms that share a tokenizer. Sorted by effect size "
        "(|difference| / sd of the seed differences).</p>",
        f'<ul class="findings">{items}</ul>',
    ]
    if gate is not None and len(gate):
        parts.append(
            "<h3>Did the models learn?</h3>"
            '<p class="note">test_bpb: bits per byte on the test split (mean over seeds); '
            "unigram_bits: the order-0 byte entropy of the same split; gap_bits: how far "
            "below it; median_entropy_norm_word: median normalised word-frame entropy of "
            "all heads (1 = uniform).</p>" + table_html(gate)
        )
    for verdict, title in (("differs", "Differences"), ("within seed noise", "Within seed noise")):
        shown = findings_display(findings, verdict)
        n = int(findings["verdict"].astype(str).eq(verdict).sum())
        parts.append(f"<h3>{title} ({len(shown)} of {n} shown)</h3>" + table_html(shown))
    path = Path(findings_path)
    if path.resolve().parent == root.resolve():
        parts.append(
            f'<p>All rows: <a href="{escape_html(path.name)}">{escape_html(path.name)}</a>.</p>'
        )
    return "".join(parts)


class _LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value is not None:
                self.links.append(value)


def check_local_links(page: str, root: str | Path) -> list[str]:
    """Return the page's href/src links; raise if one is remote or names a missing file."""
    parser = _LinkParser()
    parser.feed(page)
    root = Path(root)
    for link in parser.links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            raise ReportInputError(f"report page links off disk: {link!r} (no network links)")
        if parts.path and not (root / unquote(parts.path)).is_file():
            raise ReportInputError(f"report page links a missing file: {link!r} (under {root})")
    return parser.links


def build_page(
    out_path: str | Path,
    config: Mapping,
    stats_path: str | Path,
    figures: Mapping[str, Sequence[str | Path]],
    metrics_path: str | Path | None = None,
    segmentation_path: str | Path | None = None,
    train_summary_paths: Sequence[str | Path] = (),
    summary_path: str | Path | None = None,
    compare_path: str | Path | None = None,
    viewer_pages: Sequence[str | Path] = (),
    findings_path: str | Path | None = None,
    gate_path: str | Path | None = None,
    heads_paths: Sequence[str | Path] = (),
) -> Path:
    """Write index.html from the result files and the figure files; return its path.

    `findings_path`/`gate_path`: findings.csv and learned_gate.csv (tokattn.report.findings),
    beside the page; they open the page, and arms that did not learn mark the attention
    figures with a warning. `heads_paths`: every run's heads.parquet, for the table of
    head types that emerged.
    """
    out_path = Path(out_path)
    root = out_path.parent
    stats = load_json(stats_path)
    train_summaries = [load_json(p) for p in train_summary_paths]
    summary = load_table(summary_path, SUMMARY_COLUMNS) if summary_path else None
    body: dict[str, list[str]] = {key: [] for key in SECTIONS}
    gate = load_table(gate_path, GATE_COLUMNS) if gate_path else None
    failed = not_learned(gate)
    if findings_path:
        body["findings"].append(
            findings_html(load_table(findings_path, FINDINGS_COLUMNS), gate, root, findings_path)
        )
    if failed:
        body["attention"].append(f'<p class="warn">{escape_html(attention_warning(failed))}</p>')
    body["summary"].append(
        "<ul>"
        + "".join(
            f"<li>{escape_html(s)}</li>"
            for s in summary_sentences(config, stats, train_summaries, summary)
        )
        + "</ul>"
    )
    body["corpus"].append(table_html(corpus_table(stats)))
    if metrics_path:
        tokenizers = tokenizer_table(load_table(metrics_path))
        body["tokenizers"].append(table_html(tokenizers) + roundtrip_note(tokenizers))
    if train_summaries:
        body["training"].append(table_html(training_table(train_summaries)))
    for name, paths in figures.items():
        if name not in FIGURES:
            raise ValueError(f"unknown report figure {name!r}")
        section, caption = FIGURES[name]
        for path in paths:
            warning = ""
            if section == "attention" and failed:
                model = Path(path).stem.removeprefix(f"{name}_")
                per_model = Path(path).stem != name
                arms = {model: failed[model]} if per_model and model in failed else {}
                warning = attention_warning(arms if per_model else failed)
            body[section].append(
                _figure_html(Path(path), root, caption, f"{name}: {Path(path).stem}", warning)
            )
    if segmentation_path:
        body["tokenizers"].append(
            "<h3>Segmentation of the stress probes</h3>"
            + segmentation_html(load_json(segmentation_path))
        )
    if compare_path:
        matches = matched_heads(load_table(compare_path))
        cols = [
            "model_a",
            "seed_a",
            "layer_a",
            "head_a",
            "model_b",
            "seed_b",
            "layer_b",
            "head_b",
            "js",
            "js_unweighted",
            "mass_a",
            "mass_b",
        ]
        cols = [c for c in cols if c in matches]  # compare files before the mass columns
        body["attention"].append(
            "<h3>Matched heads (JS divergence, bits)</h3>"
            '<p class="note">js: mean over query words (from the second word on) weighted '
            "by min(mass_a, mass_b), the attention both heads kept on the text rather than "
            "on BOS; mass_a/mass_b: those masses, means over the same words. A low mass "
            "means the JS compares what little attention left BOS.</p>"
            + table_html(matches[cols] if len(matches) else matches)
        )
    if heads_paths:
        heads = stack_tables(heads_paths, required=("model", "seed", "layer", "head"))
        body["attention"].append(
            "<h3>Head types that emerged</h3>"
            f'<p class="note">{escape_html(head_types_note())}</p>'
            + table_html(head_types_table(heads), floatfmt="{:.3g}")
        )
    if summary is not None:
        body["benchmarks"].insert(0, headline_html(summary, gate))
    if viewer_pages:
        links = "".join(
            f'<li><a href="{escape_html(Path(p).resolve().relative_to(root.resolve()).as_posix())}">'
            f"{escape_html(Path(p).stem)}</a></li>"
            for p in viewer_pages
        )
        body["viewer"].append(
            f"<p>Interactive pages (open from disk, no network):</p><ul>{links}</ul>"
        )
    page = _render(config.get("experiment", "tokattn"), body)
    check_local_links(page, root)
    return write_text_atomic(out_path, page)


def _render(title: str, body: Mapping[str, list[str]]) -> str:
    shown = [key for key in SECTIONS if body[key]]
    nav = "".join(f'<a href="#{key}">{escape_html(SECTIONS[key])}</a>' for key in shown)
    sections = "".join(
        f'<section id="{key}"><h2>{escape_html(SECTIONS[key])}</h2>{"".join(body[key])}</section>'
        for key in shown
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>tokattn report: {escape_html(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>tokattn report: {escape_html(title)}</h1><nav>{nav}</nav>{sections}</body></html>\n"
    )

"""Markdown tables (and small figure copies) for a findings write-up, from one run's results.

    python tools/findings_doc.py results/cpu --figures docs/findings > /tmp/tables.md

Reads what the workflow wrote under an experiment's results folder — report/findings.csv,
report/learned_gate.csv, eval/summary.csv, analysis/*/seed*/heads.parquet, the per-job
Snakemake benchmark files — and prints Markdown: the did-the-models-learn gate, bits per
byte by language and domain, the distribution of normalised head entropy, the head types
that emerged, the benchmark tasks against chance, the strongest findings, and the CPU
time per stage. Every number is read from those files; nothing is typed in by hand.
With --figures DIR, copies a few report figures there as small PNGs (at most --max-px
wide). The text around the tables (what the run shows) is the author's.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tokattn.report.loading import stack_tables

FIGURES = ("bpb", "head_entropy", "training_curves", "js_layers", "head_grid_byte")
STAGES = {
    "corpus and tokenizers": ("prepare_corpus", "train_tokenizer", "tokenizer_metrics"),
    "pretokenize + training mix": ("pretokenize", "training_mix"),
    "training": ("train_model",),
    "attention dumps": ("dump_attention",),
    "head analyses + comparison": ("analyze_heads", "compare_attention"),
    "benchmarks": ("eval_lm", "eval_inference", "eval_memory", "eval_summarization"),
}


def _fmt(value) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "–"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame) -> str:
    """Return `df` as a GitHub Markdown table (floats to 3 decimals, NaN as –)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _ci(row) -> str:
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def bpb_table(summary: pd.DataFrame, by: str, min_docs: int = 1) -> pd.DataFrame:
    """Test bits per byte, mean [95 % CI] over seeds, one row per `by` value with at least
    `min_docs` test documents, one column per arm; most documents first."""
    lm = summary[(summary["task"] == "lm") & (summary["metric"] == "bits_per_byte")]
    other = "domain" if by == "language" else "language"
    lm = lm[(lm[other] == "all") & (lm["subtask"] == "all")]
    lm = lm[lm["distance_bytes"].astype(str) == "all"]
    docs = lm.groupby(by)["n_items"].max().rename("test docs")
    table = lm.assign(value=lm.apply(_ci, axis=1)).pivot(index=by, columns="model", values="value")
    table = table.join(docs)[lambda t: t["test docs"] >= min_docs]
    table = table.sort_values("test docs", ascending=False).reset_index()
    return table[[by, "test docs", *[c for c in table.columns if c not in (by, "test docs")]]]


def entropy_table(heads: pd.DataFrame) -> pd.DataFrame:
    """Quantiles of normalised head entropy per arm (all heads of all seeds)."""
    rows = []
    for model, sub in heads.groupby("model", sort=False):
        for column, frame in (
            ("entropy_norm_word", "word frame"),
            ("entropy_norm_per_token", "per token"),
        ):
            if column not in sub:
                continue
            values = sub[column].dropna().to_numpy(float)
            q = np.quantile(values, [0.1, 0.5, 0.9])
            rows.append(
                {
                    "arm": model,
                    "frame": frame,
                    "heads": len(values),
                    "p10": q[0],
                    "median": q[1],
                    "p90": q[2],
                    "share < 0.95": float((values < 0.95).mean()),
                }
            )
    return pd.DataFrame(rows)


def stage_times(results: Path) -> pd.DataFrame:
    """Wall and CPU seconds per stage, summed over the jobs' Snakemake benchmark files."""
    rows = []
    for stage, rules in STAGES.items():
        wall = cpu = 0.0
        jobs = 0
        for rule in rules:
            for tsv in sorted((results / "benchmarks").glob(f"{rule}*")):
                files = [tsv] if tsv.is_file() else sorted(tsv.rglob("*.tsv"))
                for f in files:
                    bench = pd.read_csv(f, sep="\t")
                    wall += float(bench["s"].iloc[-1])
                    cpu += float(bench["cpu_time"].iloc[-1])
                    jobs += 1
        rows.append({"stage": stage, "jobs": jobs, "wall s (sum)": wall, "CPU s (sum)": cpu})
    return pd.DataFrame(rows)


def shrink_figures(report: Path, out: Path, max_px: int) -> list[Path]:
    """Copy the FIGURES that exist (PNG) into `out`, at most `max_px` wide."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FIGURES:
        src = report / "figures" / f"{name}.png"
        if not src.exists():
            continue
        with Image.open(src) as img:
            img = img.convert("RGB")
            if img.width > max_px:
                img = img.resize((max_px, round(img.height * max_px / img.width)), Image.LANCZOS)
            dest = out / f"{name}.png"
            img.save(dest, optimize=True)
            written.append(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/findings_doc.py",
        description="Markdown tables for a findings write-up from an experiment's results.",
    )
    parser.add_argument("results", type=Path, help="the experiment's folder, e.g. results/cpu")
    parser.add_argument("--figures", type=Path, help="copy a few report figures here as PNGs")
    parser.add_argument("--max-px", type=int, default=900, help="figure width limit (pixels)")
    parser.add_argument("--top", type=int, default=15, help="findings rows to show")
    parser.add_argument(
        "--min-docs", type=int, default=10, help="languages need this many test documents"
    )
    args = parser.parse_args(argv)
    res = args.results
    needed = [res / "report" / "findings.csv", res / "report" / "learned_gate.csv"]
    needed.append(res / "eval" / "summary.csv")
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        parser.error(f"missing (run the report first): {', '.join(missing)}")
    findings = pd.read_csv(needed[0])
    gate = pd.read_csv(needed[1])
    summary = pd.read_csv(needed[2], dtype={"distance_bytes": str})
    heads = stack_tables(
        sorted((res / "analysis").glob("*/seed*/heads.parquet")),
        required=("model", "seed", "layer", "head"),
    )
    out = []
    out += ["### Did the models learn?", "", markdown_table(gate), ""]
    out += ["### Test bits per byte by language (mean [95 % CI] over seeds)", ""]
    out += [markdown_table(bpb_table(summary, "language", args.min_docs)), ""]
    out += [f"(languages with at least {args.min_docs} test documents)", ""]
    out += ["### Test bits per byte by domain (mean [95 % CI] over seeds)", ""]
    out += [markdown_table(bpb_table(summary, "domain")), ""]
    out += ["### Normalised head entropy (all heads, all seeds)", ""]
    out += [markdown_table(entropy_table(heads)), ""]
    try:
        from tokattn.report.head_types import head_types_table
    except ImportError:  # an older checkout without the table
        head_types_table = None
    if head_types_table is not None:
        table = head_types_table(heads)
        table = table.drop(columns=["heads per seed", "induction queries per seed"])
        out += ["### Head types that emerged", "", markdown_table(table), ""]
    chance = findings[findings["arm_b"].astype(str).str.startswith("chance")]
    if len(chance):
        cols = ["measure", "group", "arm_a", "arm_b", "n_seeds", "mean_a", "mean_b", "diff"]
        cols += ["ci_low", "ci_high", "verdict"]
        chance = chance.sort_values(["measure", "group", "arm_a"])
        out += ["### Benchmarks against chance", "", markdown_table(chance[cols]), ""]
    pairs = findings[~findings["arm_b"].astype(str).str.startswith("chance")]
    counts = pairs.groupby("verdict").size().rename("findings").reset_index()
    out += ["### Verdicts over every arm pair and measure", "", markdown_table(counts), ""]
    top = pairs[pairs["verdict"] == "differs"].head(args.top)
    cols = ["measure", "frame", "group", "arm_a", "arm_b", "n_seeds", "diff", "ci_low"]
    cols += ["ci_high", "effect_size"]
    out += [f"### The {len(top)} largest differences (paired over seeds)", ""]
    out += [markdown_table(top[cols]), ""]
    out += ["### Time per stage (Snakemake benchmark files)", "", markdown_table(stage_times(res))]
    print("\n".join(out))
    if args.figures:
        for path in shrink_figures(res / "report", args.figures, args.max_px):
            print(f"wrote {path} ({path.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Snakemake adapter for rule report_page: write results/{experiment}/report/index.html."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.report.page import build_page  # noqa: E402

inputs = snakemake.input
build_page(
    snakemake.output[0],
    snakemake.params.config,
    inputs.stats,
    snakemake.params.figures,
    metrics_path=inputs.metrics,
    segmentation_path=inputs.segmentation,
    train_summary_paths=list(inputs.train_summaries),
    summary_path=inputs.get("summary"),
    compare_path=inputs.get("compare"),
    viewer_pages=list(inputs.viewer),
    findings_path=inputs.findings,
    gate_path=inputs.learned_gate,
    heads_paths=list(inputs.heads),
)

"""Snakemake adapter for rule report_findings: write report/findings.csv and learned_gate.csv."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.report.findings import compute_findings, write_findings  # noqa: E402

inputs = snakemake.input
runs = [
    (model, seed, path)
    for (model, seed, _task), path in zip(snakemake.params.eval_runs, inputs.evals, strict=True)
]
findings, gate = compute_findings(
    eval_runs=runs,
    heads_paths=list(inputs.heads),
    compare_path=inputs.get("compare"),
    item_paths={Path(p).stem: p for p in inputs.eval_items},
    test_parquet=inputs.test,
    tokenizers=snakemake.params.tokenizers,
)
write_findings(findings, gate, snakemake.output.findings, snakemake.output.gate)

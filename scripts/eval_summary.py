"""Snakemake adapter for rule eval_summary: aggregate every run into summary.csv."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.evaluation.aggregate import write_summary  # noqa: E402

write_summary(
    snakemake.params.runs,
    snakemake.output[0],
    tokenizers=snakemake.params.tokenizers,
    n_boot=snakemake.params.bootstrap_samples,
    confidence=snakemake.params.confidence,
    seed=snakemake.params.seed,
)

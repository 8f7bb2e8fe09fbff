"""Snakemake adapter for rule analyze_heads: per-head statistics and word-level maps."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.attention.head_analysis import analyze_store  # noqa: E402

analyze_store(
    snakemake.input.store,
    snakemake.output.heads,
    snakemake.output.word_maps,
    snakemake.output.correlations,
    max_samples=snakemake.params.correlation_samples,
    seed=int(snakemake.wildcards.seed),
)

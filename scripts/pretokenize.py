"""Snakemake adapter for rule pretokenize: token ids + per-token byte counts of one split."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.training.tokenized import pretokenize_split  # noqa: E402

pretokenize_split(
    Path(snakemake.input.tokenizer).parent,
    [snakemake.input.corpus, *snakemake.input.extra],
    Path(snakemake.output.meta).parent,
    snakemake.wildcards.split,
)

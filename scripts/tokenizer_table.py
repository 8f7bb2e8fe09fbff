"""Snakemake adapter for rule tokenizer_table: one CSV of every tokenizer's metrics."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.tokenizing.metrics import write_metrics_table  # noqa: E402

write_metrics_table(list(snakemake.input), snakemake.output[0])

"""Snakemake adapter for rule training_mix: train-split task instances for training."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.evaluation.tasks.build import write_training_mix  # noqa: E402

write_training_mix(
    snakemake.params.evaluation,
    snakemake.input.train,
    snakemake.output.mix,
    stats_path=snakemake.output.stats,
)

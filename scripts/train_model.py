"""Snakemake adapter for rule train_model: train (or resume) one arm for one seed."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.training.train import train_model  # noqa: E402

train_model(
    arm=snakemake.params.arm,
    arms=snakemake.params.arms,
    training=snakemake.params.training,
    seed=snakemake.params.seed,
    tokenizer_dir=snakemake.params.tokenizer_dir,
    tokenized_dir=snakemake.params.tokenized_dir,
    out_dir=snakemake.params.out_dir,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    tensorboard_dir=snakemake.params.tensorboard_dir,
    world_size=snakemake.resources.gpu,
    threads=snakemake.threads,
)

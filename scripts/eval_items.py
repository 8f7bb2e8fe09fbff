"""Snakemake adapter for rule eval_items: build the items of one benchmark task."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.evaluation.tasks.build import write_items  # noqa: E402

write_items(
    task=snakemake.wildcards.eval_task,
    cfg=snakemake.params.evaluation,
    out_path=snakemake.output[0],
    test_corpus=snakemake.input.test,
    train_corpus=snakemake.input.train,
)

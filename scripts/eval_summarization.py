"""Snakemake adapter for rule eval_summarization: score one model and seed on the summarization benchmark."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.evaluation.runners import evaluate_summarization  # noqa: E402

evaluate_summarization(
    snakemake.params.model_dir,
    snakemake.input.eval_items,
    snakemake.params.evaluation,
    out_json=snakemake.output.json,
    out_jsonl=snakemake.output.records,
    model_name=snakemake.wildcards.model,
    seed=int(snakemake.wildcards.seed),
    threads=snakemake.threads,
)

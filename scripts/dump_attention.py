"""Snakemake adapter for rule dump_attention: one model and seed on the probe set."""

import logging
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

import torch  # noqa: E402

from tokattn.attention.dump import dump_attention  # noqa: E402

torch.set_num_threads(snakemake.threads)
dump_attention(
    model_path=snakemake.params.model_dir,
    probes_path=snakemake.input.probes,
    out_path=snakemake.output[0],
    model_name=snakemake.wildcards.model,
    seed=int(snakemake.wildcards.seed),
    cfg=snakemake.params.attention,
    tokenizer_dir=snakemake.params.tokenizer_dir or None,
    extra_config={"probes": snakemake.params.probes},
)

"""Snakemake adapter for rule train_tokenizer: train one tokenizer on the train split."""

import logging
import os
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
logging.basicConfig(
    level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)
# The Rust trainer's thread pool reads this once, before tokenizers is first used.
os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))

from tokattn.tokenizing.tokenization import train_tokenizer  # noqa: E402

train_tokenizer(
    snakemake.params.spec,
    snakemake.input.train,
    Path(snakemake.output.tokenizer).parent,
    seed=snakemake.params.seed,
)

"""Snakemake adapter for rule tokenizer_metrics: intrinsic metrics of one tokenizer."""

import logging
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
logging.basicConfig(
    level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)

from tokattn.tokenizing.metrics import compute_tokenizer_metrics  # noqa: E402

compute_tokenizer_metrics(
    Path(snakemake.input.tokenizer).parent, snakemake.input.test, snakemake.output[0]
)

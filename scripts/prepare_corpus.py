"""Snakemake adapter for rule prepare_corpus: build the corpus stage outputs."""

import logging
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
logging.basicConfig(
    level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)

from tokattn.corpus.build import build_corpus  # noqa: E402

build_corpus(
    snakemake.params.corpus,
    snakemake.output.train,
    snakemake.output.val,
    snakemake.output.test,
    snakemake.output.stats,
)

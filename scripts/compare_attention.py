"""Snakemake adapter for rule compare_attention: JS divergence and head matching."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.attention.compare import compare_word_maps  # noqa: E402

compare_word_maps(list(snakemake.input.word_maps), snakemake.output[0])

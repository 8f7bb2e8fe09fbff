"""Snakemake adapter for rule import_pretrained: a pretrained HF causal LM as an arm."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.attention.pretrained import import_pretrained  # noqa: E402

import_pretrained(snakemake.params.spec, snakemake.params.out_dir)

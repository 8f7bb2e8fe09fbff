"""Snakemake adapter for rule build_probes: the probe set shared by every model."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.attention.probes import build_probes  # noqa: E402

build_probes(snakemake.input.test, snakemake.output[0], snakemake.params.probes)

"""Snakemake adapter for rules report_viewer*: a self-contained attention viewer page."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.viewer import build_viewer  # noqa: E402

build_viewer(
    [Path(p) for p in snakemake.input.store],
    Path(snakemake.output[0]),
    tokenizer_dirs=[Path(p) for p in snakemake.params.tokenizer_dirs],
    title=snakemake.params.title,
)

"""Snakemake adapter for the report_* figure rules: draw one figure of the report."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.report.builders import build_figure  # noqa: E402

build_figure(
    snakemake.params.figure,
    dict(snakemake.input.items()),
    snakemake.params.settings,
    snakemake.output[0],
)

"""Snakemake adapter for rule report_segmentation: every tokenizer's cut of the stress probes."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115 - lives for the whole job
sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from tokattn.report.loading import load_probes  # noqa: E402
from tokattn.report.segmentation import write_segmentation  # noqa: E402

write_segmentation(
    load_probes(snakemake.input.probes), snakemake.params.tokenizer_dirs, snakemake.output[0]
)

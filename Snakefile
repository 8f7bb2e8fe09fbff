# tokattn: tokenizers -> models -> attention -> analyses -> benchmarks -> report.
# Run: snakemake --cores 2 --configfile config/tiny.yaml   (see README)
from snakemake.utils import min_version

min_version("8.20")

# The config: config/config.yaml unless --configfile names another; read and validated by
# rules/common.smk (one loader for every path: tokattn.common.config_files.load_config).


include: "rules/common.smk"
include: "rules/inputs.smk"
include: "rules/report_inputs.smk"
include: "rules/data.smk"
include: "rules/tokenizers.smk"
include: "rules/models.smk"
include: "rules/evaluate.smk"
include: "rules/attention.smk"
include: "rules/report.smk"
include: "rules/report_page.smk"


rule all:
    """Target: every stage of the config (corpus, tokenizers, models, benchmarks, attention, report)."""
    default_target: True
    input:
        get_final_output(),

# tokattn: tokenizers -> models -> attention -> analyses -> benchmarks -> report.
# Run: snakemake --cores 2 --configfile config/tiny.yaml   (see README)
from snakemake.utils import min_version

min_version("8.20")


# The default experiment, unless the user names one: --configfile replaces it instead of
# being merged into it, so config/tiny.yaml never inherits arms from config/config.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/tokenizers.smk"
include: "rules/models.smk"
include: "rules/evaluate.smk"
include: "rules/attention.smk"
include: "rules/report.smk"


rule all:
    """Target: every stage of the config (corpus, tokenizers, models, benchmarks, attention, report)."""
    default_target: True
    input:
        get_final_output(),

# tokattn: tokenizers -> models -> attention -> analyses -> benchmarks -> report.
# Run: snakemake --cores 2 --configfile config/tiny.yaml   (see README)
from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/tokenizers.smk"


rule all:
    input:
        get_final_output(),
    default_target: True

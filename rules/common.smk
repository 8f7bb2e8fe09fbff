import re
import sys
from pathlib import Path

# The library lives in src/; importing it from there keeps the workflow usable from a
# clean clone and inside per-rule conda envs that do not install the package.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from tokattn.config import ConfigError, validate_config

try:
    config.update(
        validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    )
except ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None

RESULTS = "results"
SOURCES = {src["name"]: src for src in config["corpus"]["sources"]}
TOKENIZERS = {tok["name"]: tok for tok in config["tokenizers"]}
SPLITS = ["train", "val", "test"]
RES = config.get("resources", {})


def _names_regex(names):
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


wildcard_constraints:
    tokenizer=_names_regex(TOKENIZERS),
    split="|".join(SPLITS),


def get_corpus_inputs(wildcards=None):
    """Local files read by hf sources, so that editing one reruns the corpus stage."""
    files = []
    for src in SOURCES.values():
        if src["type"] == "hf" and "data_files" in src:
            data_files = src["data_files"]
            files.extend([data_files] if isinstance(data_files, str) else data_files)
    return files


def get_corpus_output():
    return expand(f"{RESULTS}/corpus/{{split}}.parquet", split=SPLITS) + [
        f"{RESULTS}/corpus/stats.json"
    ]


def get_tokenizer_spec(wildcards):
    return TOKENIZERS[wildcards.tokenizer]


def get_tokenizer_output():
    return expand(
        f"{RESULTS}/tokenizers/{{tokenizer}}/{{file}}",
        tokenizer=TOKENIZERS,
        file=["tokenizer.json", "metrics.json"],
    ) + [f"{RESULTS}/tokenizers/metrics.csv"]


def get_final_output():
    return get_corpus_output() + get_tokenizer_output()

# Shared by every file in rules/: the config (read and validated by
# tokattn.common.config_files), the constants derived from it, wildcard constraints and
# get_final_output(). Input functions: rules/inputs.smk (corpus to attention) and
# rules/report_inputs.smk (report).
import re
import sys
from pathlib import Path

# The library lives in src/; importing it from there keeps the workflow usable from a
# clean clone and inside per-rule conda envs that do not install the package.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from tokattn.common.config import LOCAL_DATASET_BUILDERS, ConfigError
from tokattn.common.config_files import load_config
from tokattn.corpus.hf_source import CorpusError, data_file_paths

# Config files are read by the project's loader (tokattn.common.config_files.load_config),
# not taken from Snakemake's parse: it rejects duplicate keys (YAML keeps the last silently) and
# names the file, line and column of an error. --configfile replaces the default file
# instead of being merged into it, so config/tiny.yaml never inherits arms from
# config/config.yaml; --config KEY=VALUE overrides are merged last, as Snakemake does.
DEFAULT_CONFIG_FILE = "config/config.yaml"
CONFIG_FILES = list(workflow.overwrite_configfiles) or [DEFAULT_CONFIG_FILE]
if not workflow.overwrite_configfiles:
    # Listed like a `configfile:` directive's file (the Snakemake report shows it).
    workflow.configfiles.append(DEFAULT_CONFIG_FILE)
try:
    _resolved = load_config(
        CONFIG_FILES,
        overrides=dict(workflow.config_settings.config),
        schema_path=Path(workflow.basedir) / "config" / "schema.yaml",
    )
except ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None
config.clear()
config.update(_resolved)

# Every experiment writes under its own folder (the `experiment` key), so the tiny, CPU
# and GPU configs never overwrite or replan each other.
RESULTS = f"results/{config['experiment']}"
SOURCES = {src["name"]: src for src in config["corpus"]["sources"]}
TOKENIZERS = {tok["name"]: tok for tok in config["tokenizers"]}
SPLITS = ["train", "val", "test"]
RES = config.get("resources", {})
MODELS = {arm["name"]: arm for arm in config.get("models") or []}
SEEDS = config.get("seeds", [0])
TRAIN_RES = RES.get("train", {})
EVAL = config.get("evaluation", {})
EVAL_RES = RES.get("evaluate", {})
ATTENTION = config.get("attention", {})
ATTN_RES = RES.get("attention", {})
# Pretrained HF causal LMs: arms that skip training (imported into results/{experiment}/models/).
PRETRAINED = {arm["name"]: arm for arm in config.get("pretrained") or []}
# Keys of `attention` the dump reads; the analysis keys must not rerun the dumps.
ATTN_DUMP_KEYS = [
    "top_k",
    "iterative_lens_k",
    "dtype",
    "device",
    "add_bos",
    "context_tokens",
    "window_stride_tokens",
    "compression",
    "compression_level",
]
EVAL_TASKS = ["lm", "inference", "memory", "summarization"]
# Settings every benchmark job reads; each job also gets its own task's section only, so
# changing one task's settings reruns that task alone.
EVAL_COMMON_KEYS = [
    "seed",
    "batch_size",
    "device",
    "dtype",
    "max_context_tokens",
    "bootstrap_samples",
    "confidence",
]


def _names_regex(names):
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


wildcard_constraints:
    tokenizer=_names_regex(TOKENIZERS),
    split="|".join(SPLITS),
    model=_names_regex(MODELS) or "(?!)",
    seed=r"\d+",
    eval_task="|".join(EVAL_TASKS),


def get_final_output():
    return (
        get_corpus_output()
        + get_tokenizer_output()
        + get_train_output()
        + get_eval_output()
        + get_attention_output()
        + [f"{RESULTS}/report/index.html"]
    )

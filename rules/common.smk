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


def get_corpus_inputs(wildcards=None):
    """Local files read by hf sources, so that editing one reruns the corpus stage.

    Globs are expanded the way the reader expands them (tokattn.corpus.hf_source): a pattern is
    not a file Snakemake could find. Hub sources' data_files live in the hub dataset.
    """
    files = []
    for src in SOURCES.values():
        if src["type"] == "hf" and src["path"] in LOCAL_DATASET_BUILDERS:
            try:
                files.extend(data_file_paths(src))
            except CorpusError as err:
                raise WorkflowError(f"config key 'corpus.sources': {err}") from None
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


def get_model_arm(wildcards):
    return MODELS[wildcards.model]


def get_model_arms(wildcards):
    """The arm plus the arm it matches parameters with (not all arms: adding one must not
    change the params of every other training job, which would retrain them)."""
    arm = MODELS[wildcards.model]
    ref = arm.get("match_non_embedding_params")
    return [arm] + ([MODELS[ref]] if isinstance(ref, str) else [])


def get_model_tokenizer_dir(wildcards):
    return f"{RESULTS}/tokenizers/{MODELS[wildcards.model]['tokenizer']}"


def get_model_tokenized_dir(wildcards):
    return f"{RESULTS}/tokenized/{MODELS[wildcards.model]['tokenizer']}"


def get_pretokenize_extra(wildcards):
    """Documents tokenized after the split's own: the training mix joins the train split."""
    return get_training_mix_output() if wildcards.split == "train" else []


def get_train_inputs(wildcards):
    tokenized = get_model_tokenized_dir(wildcards)
    tokenizer = get_model_tokenizer_dir(wildcards)
    return {
        "tokenizer": f"{tokenizer}/tokenizer.json",
        "tokenizer_config": f"{tokenizer}/tokenizer_config.json",
        "tokenized": [
            f"{tokenized}/{split}{suffix}"
            for split in ("train", "val")
            for suffix in (".bin", ".bytes.bin", ".docs.npy", ".json")
        ],
    }


def get_train_output():
    return expand(
        f"{RESULTS}/models/{{model}}/seed{{seed}}/{{file}}",
        model=MODELS,
        seed=SEEDS,
        file=["model.safetensors", "train_log.csv", "train_summary.json"],
    )


def get_eval_settings(task):
    """The `evaluation` keys a job of `task` reads (items rules: the task's section)."""
    if task == "training_mix":
        return get_training_mix_settings()
    sections = {"summarization": ["summarization", "generation"]}
    keys = EVAL_COMMON_KEYS + sections.get(task, [task])
    return {key: EVAL[key] for key in keys if key in EVAL}


def get_training_mix_settings():
    """The generator settings that shape the training mix: no eval-only counts or files."""
    # Changing e.g. `summarization.n_items` must not retrain every model.
    settings = {"seed": EVAL.get("seed"), "training_mix": EVAL.get("training_mix", {})}
    for task in ("inference", "memory", "summarization"):
        section = EVAL.get(task, {})
        settings[task] = {
            k: v for k, v in section.items() if k not in ("n_items", "task_files")
        }
    return settings


def get_eval_model_inputs(wildcards):
    """The exported model folder of one arm and seed (written by rule train_model)."""
    folder = f"{RESULTS}/models/{wildcards.model}/seed{wildcards.seed}"
    return {
        "config": f"{folder}/config.json",
        "weights": f"{folder}/model.safetensors",
        "tokenizer": f"{folder}/tokenizer.json",
    }


def get_eval_model_dir(wildcards):
    return f"{RESULTS}/models/{wildcards.model}/seed{wildcards.seed}"


def get_eval_items_inputs(wildcards):
    """Corpus splits the generators read, plus the task files the config names."""
    task = wildcards.eval_task
    files = [spec["path"] for spec in EVAL.get(task, {}).get("task_files", [])]
    return {
        "test": f"{RESULTS}/corpus/test.parquet",
        "train": f"{RESULTS}/corpus/train.parquet",
        "task_files": files,
    }


def _eval_models():
    # Guarded: without `models` in the config there is nothing to evaluate.
    return [arm["name"] for arm in config.get("models") or []]


def get_eval_output():
    models = _eval_models()
    if not models or not EVAL.get("tasks"):
        return []
    return expand(
        f"{RESULTS}/eval/{{model}}/seed{{seed}}/{{task}}.json",
        model=models,
        seed=SEEDS,
        task=EVAL["tasks"],
    ) + [f"{RESULTS}/eval/summary.csv"]


def get_eval_runs():
    """(model, seed, task, per-item JSONL) of every run summary.csv aggregates."""
    return [
        (model, seed, task, f"{RESULTS}/eval/{model}/seed{seed}/{task}.jsonl")
        for model in _eval_models()
        for seed in SEEDS
        for task in EVAL.get("tasks", [])
    ]


def get_eval_item_files():
    return [path for *_, path in get_eval_runs()]


def get_eval_tokenizers():
    return {arm["name"]: arm.get("tokenizer", "") for arm in config.get("models") or []}


def get_training_mix_output():
    """The training-mix documents, when `evaluation.training_mix.share` > 0."""
    if EVAL.get("training_mix", {}).get("share", 0) > 0:
        return [f"{RESULTS}/eval/training_mix.parquet"]
    return []


def _attention_model_regex():
    # Attention rules accept trained and pretrained arms (rule-level constraint; the
    # training rule keeps `model` to trained arms only).
    return _names_regex({**MODELS, **PRETRAINED}) or "(?!)"


def get_pretrained_spec(wildcards):
    return PRETRAINED[wildcards.pretrained]


def get_pretrained_inputs(wildcards):
    """A local folder is an input (editing it reimports); a hub id has none."""
    spec = PRETRAINED[wildcards.pretrained]
    return [] if spec.get("hub") else [spec["path"]]


def get_attention_runs():
    """(model, seed) of every run whose attention is dumped: trained arms × seeds, pretrained × 0."""
    runs = [(model, seed) for model in MODELS for seed in SEEDS]
    return runs + [(name, 0) for name in PRETRAINED]


def get_attention_model_inputs(wildcards):
    """The exported model folder of one run (written by train_model or import_pretrained)."""
    folder = f"{RESULTS}/models/{wildcards.model}/seed{wildcards.seed}"
    return {
        "config": f"{folder}/config.json",
        "weights": f"{folder}/model.safetensors",
        "tokenizer": f"{folder}/tokenizer.json",
        "summary": f"{folder}/train_summary.json",
    }


def get_attention_model_dir(wildcards):
    return f"{RESULTS}/models/{wildcards.model}/seed{wildcards.seed}"


def get_attention_tokenizer_dir(wildcards):
    """The trained tokenizer folder (its recorded hash); '' for pretrained arms."""
    arm = MODELS.get(wildcards.model)
    return f"{RESULTS}/tokenizers/{arm['tokenizer']}" if arm else ""


def get_attention_dump_settings():
    return {key: ATTENTION[key] for key in ATTN_DUMP_KEYS if key in ATTENTION}


def get_word_map_files():
    return [
        f"{RESULTS}/analysis/{model}/seed{seed}/word_maps.h5"
        for model, seed in get_attention_runs()
    ]


def get_attention_output():
    runs = get_attention_runs()
    if not runs:
        return []
    files = []
    for model, seed in runs:
        files.append(f"{RESULTS}/attention/{model}/seed{seed}.h5")
        files += [
            f"{RESULTS}/analysis/{model}/seed{seed}/{name}"
            for name in ("heads.parquet", "word_maps.h5", "correlations.parquet")
        ]
    return files + [f"{RESULTS}/analysis/compare.parquet"]


def get_final_output():
    return (
        get_corpus_output()
        + get_tokenizer_output()
        + get_train_output()
        + get_eval_output()
        + get_attention_output()
        + [f"{RESULTS}/report/index.html"]
    )


REPORT = config.get("report", {})
REPORT_FIGURES = f"{RESULTS}/report/figures"
REPORT_FORMAT = REPORT.get("figure_format", "png")


def get_report_settings():
    """The config's `report` section (probe choice, dpi, languages shown)."""
    return dict(REPORT)


def get_report_first_runs():
    """(model, seed) of the first seed of every run with attention (trained and pretrained)."""
    first = {}
    for model, seed in get_attention_runs():
        first.setdefault(model, seed)
    return list(first.items())


def get_report_byte_branch_models():
    return [name for name, arm in MODELS.items() if arm.get("byte_branch")]


def get_report_figures():
    """Figure name → the figure files of the report, given what the config runs."""

    def fig(name):
        return f"{REPORT_FIGURES}/{name}.{REPORT_FORMAT}"

    figures = {
        "corpus_bytes": [fig("corpus_bytes")],
        "tokenizer_metrics": [fig("tokenizer_metrics")],
        "segmentation": [fig("segmentation")],
    }
    if MODELS:
        figures["training_curves"] = [fig("training_curves")]
    if get_attention_runs():
        figures["head_grid"] = [
            fig(f"head_grid_{m}") for m, _ in get_report_first_runs()
        ]
        for name in (
            "word_maps",
            "head_stats",
            "head_entropy",
            "js_layers",
            "matched_heads",
        ):
            figures[name] = [fig(name)]
        if get_report_byte_branch_models():
            figures["cross_attention"] = [
                fig(f"cross_attention_{m}") for m in get_report_byte_branch_models()
            ]
    tasks = EVAL.get("tasks", []) if get_eval_output() else []
    for task, name in (("lm", "bpb"), ("inference", "inference"), ("memory", "memory")):
        if task in tasks:
            figures[name] = [fig(name)]
    if "summarization" in tasks:
        figures["rouge"] = [fig("rouge")]
    return figures


def get_report_store(wildcards):
    return f"{RESULTS}/attention/{wildcards.model}/seed{dict(get_report_first_runs())[wildcards.model]}.h5"


def get_report_first_word_maps():
    return [
        f"{RESULTS}/analysis/{model}/seed{seed}/word_maps.h5"
        for model, seed in get_report_first_runs()
    ]


def get_report_heads():
    return [
        f"{RESULTS}/analysis/{model}/seed{seed}/heads.parquet"
        for model, seed in get_attention_runs()
    ]


def get_report_train_runs():
    return [(model, seed) for model in MODELS for seed in SEEDS]


def get_report_train_logs():
    return [
        f"{RESULTS}/models/{model}/seed{seed}/train_log.csv"
        for model, seed in get_report_train_runs()
    ]


def get_report_train_summaries():
    return [
        f"{RESULTS}/models/{model}/seed{seed}/train_summary.json"
        for model, seed in get_report_train_runs()
    ]


def get_report_tokenizer_dirs():
    return {name: f"{RESULTS}/tokenizers/{name}" for name in TOKENIZERS}


def get_report_viewer_pages():
    """The viewer pages: one per attention run, plus one comparing every model's first seed."""
    runs = get_attention_runs()
    if not runs:
        return []
    pages = [f"{RESULTS}/report/viewer/{model}_seed{seed}.html" for model, seed in runs]
    return pages + [f"{RESULTS}/report/viewer/compare.html"]


def get_report_page_inputs(wildcards=None):
    """Every file index.html reads or links (figures, tables, viewer pages)."""
    inputs = {
        "stats": f"{RESULTS}/corpus/stats.json",
        "metrics": f"{RESULTS}/tokenizers/metrics.csv",
        "segmentation": f"{RESULTS}/report/segmentation.json",
        "figures": [p for paths in get_report_figures().values() for p in paths],
        "train_summaries": get_report_train_summaries(),
        "viewer": get_report_viewer_pages(),
    }
    if get_eval_output():
        inputs["summary"] = f"{RESULTS}/eval/summary.csv"
    if get_attention_runs():
        inputs["compare"] = f"{RESULTS}/analysis/compare.parquet"
    return inputs


def get_report_config():
    """The config keys the text section reads."""
    keys = ("experiment", "seeds", "models", "training", "pretrained", "report")
    return {key: config[key] for key in keys if key in config}


def get_report_findings_runs():
    """(model, seed, task) of every per-seed eval summary the findings read."""
    if not get_eval_output():
        return []
    return [
        (model, seed, task)
        for model in _eval_models()
        for seed in SEEDS
        for task in EVAL["tasks"]
    ]


def get_report_findings_inputs(wildcards=None):
    """The numbers findings.csv is computed from (eval summaries, head statistics, items)."""
    tasks = EVAL.get("tasks", []) if get_eval_output() else []
    inputs = {
        "test": f"{RESULTS}/corpus/test.parquet",
        "evals": [
            f"{RESULTS}/eval/{model}/seed{seed}/{task}.json"
            for model, seed, task in get_report_findings_runs()
        ],
        "heads": get_report_heads(),
        "eval_items": [
            f"{RESULTS}/eval/items/{task}.jsonl"
            for task in ("inference", "memory")
            if task in tasks
        ],
    }
    if get_attention_runs():
        inputs["compare"] = f"{RESULTS}/analysis/compare.parquet"
    return inputs

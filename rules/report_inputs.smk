# Report settings and the input functions (get_report_*) of rules/report.smk and
# rules/report_page.smk (library: tokattn.report); included after rules/inputs.smk.


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

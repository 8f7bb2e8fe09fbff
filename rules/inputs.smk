# Input functions (get_*) of the corpus, tokenizer, training, evaluation and attention
# rules; included from the Snakefile after common.smk, whose constants they read. Library:
# tokattn.common (config) and tokattn.corpus.hf_source (the files an hf source reads).


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

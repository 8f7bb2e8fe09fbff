# Evaluation stage: library tokattn.evaluation (src/tokattn/evaluation/, with tasks/ and
# metrics/), tests tests/unit/evaluation/. Writes results/{experiment}/eval/.


rule eval_items:
    """Build the items of one benchmark task (inference, memory, summarization)."""
    input:
        unpack(get_eval_items_inputs),
    output:
        f"{RESULTS}/eval/items/{{eval_task}}.jsonl",
    log:
        f"{RESULTS}/logs/eval_items/{{eval_task}}.log",
    wildcard_constraints:
        eval_task="inference|memory|summarization",
    conda:
        "../envs/evaluate.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        evaluation=lambda wildcards: get_eval_settings(wildcards.eval_task),
    script:
        "../scripts/eval_items.py"


rule eval_lm:
    """Bits per byte of one model and seed on the test split."""
    input:
        unpack(get_eval_model_inputs),
        test=f"{RESULTS}/corpus/test.parquet",
    output:
        json=f"{RESULTS}/eval/{{model}}/seed{{seed}}/lm.json",
        records=f"{RESULTS}/eval/{{model}}/seed{{seed}}/lm.jsonl",
    log:
        f"{RESULTS}/logs/eval_lm/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_lm/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: EVAL_RES["threads"]
    resources:
        gpu=EVAL_RES["gpu"],
        gpu_model=EVAL_RES["gpu_model"] or "",
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime_min"],
    params:
        evaluation=get_eval_settings("lm"),
        model_dir=get_eval_model_dir,
    script:
        "../scripts/eval_lm.py"


rule eval_inference:
    """Score one model and seed on the inference items (multiple choice)."""
    input:
        unpack(get_eval_model_inputs),
        eval_items=f"{RESULTS}/eval/items/inference.jsonl",
    output:
        json=f"{RESULTS}/eval/{{model}}/seed{{seed}}/inference.json",
        records=f"{RESULTS}/eval/{{model}}/seed{{seed}}/inference.jsonl",
    log:
        f"{RESULTS}/logs/eval_inference/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_inference/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: EVAL_RES["threads"]
    resources:
        gpu=EVAL_RES["gpu"],
        gpu_model=EVAL_RES["gpu_model"] or "",
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime_min"],
    params:
        evaluation=get_eval_settings("inference"),
        model_dir=get_eval_model_dir,
    script:
        "../scripts/eval_inference.py"


rule eval_memory:
    """Score one model and seed on the memory-retention items."""
    input:
        unpack(get_eval_model_inputs),
        eval_items=f"{RESULTS}/eval/items/memory.jsonl",
    output:
        json=f"{RESULTS}/eval/{{model}}/seed{{seed}}/memory.json",
        records=f"{RESULTS}/eval/{{model}}/seed{{seed}}/memory.jsonl",
    log:
        f"{RESULTS}/logs/eval_memory/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_memory/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: EVAL_RES["threads"]
    resources:
        gpu=EVAL_RES["gpu"],
        gpu_model=EVAL_RES["gpu_model"] or "",
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime_min"],
    params:
        evaluation=get_eval_settings("memory"),
        model_dir=get_eval_model_dir,
    script:
        "../scripts/eval_memory.py"


rule eval_summarization:
    """Score one model and seed on the summarization items (ROUGE)."""
    input:
        unpack(get_eval_model_inputs),
        eval_items=f"{RESULTS}/eval/items/summarization.jsonl",
    output:
        json=f"{RESULTS}/eval/{{model}}/seed{{seed}}/summarization.json",
        records=f"{RESULTS}/eval/{{model}}/seed{{seed}}/summarization.jsonl",
    log:
        f"{RESULTS}/logs/eval_summarization/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_summarization/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: EVAL_RES["threads"]
    resources:
        gpu=EVAL_RES["gpu"],
        gpu_model=EVAL_RES["gpu_model"] or "",
        mem_mb=EVAL_RES["mem_mb"],
        runtime=EVAL_RES["runtime_min"],
    params:
        evaluation=get_eval_settings("summarization"),
        model_dir=get_eval_model_dir,
    script:
        "../scripts/eval_summarization.py"


rule eval_summary:
    """Aggregate every benchmark over seeds (mean and 95 % CI) into eval/summary.csv."""
    input:
        get_eval_item_files(),
    output:
        report(
            f"{RESULTS}/eval/summary.csv",
            caption="../docs/captions/eval_summary.rst",
            category="Benchmarks",
        ),
    log:
        f"{RESULTS}/logs/eval_summary.log",
    conda:
        "../envs/evaluate.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        runs=get_eval_runs(),
        tokenizers=get_eval_tokenizers(),
        bootstrap_samples=EVAL.get("bootstrap_samples", 1000),
        confidence=EVAL.get("confidence", 0.95),
        seed=EVAL.get("seed", 0),
    script:
        "../scripts/eval_summary.py"


# Train-split task instances for the training stage (evaluation.training_mix.share).
rule training_mix:
    """Task-format training documents mixed into the training bytes."""
    input:
        train=f"{RESULTS}/corpus/train.parquet",
    output:
        mix=f"{RESULTS}/eval/training_mix.parquet",
        stats=f"{RESULTS}/eval/training_mix.json",
    log:
        f"{RESULTS}/logs/training_mix.log",
    conda:
        "../envs/evaluate.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        evaluation=get_eval_settings("training_mix"),
    script:
        "../scripts/training_mix.py"


rule evaluate:
    """Target: every benchmark of every arm and seed, and eval/summary.csv."""
    input:
        get_eval_output(),

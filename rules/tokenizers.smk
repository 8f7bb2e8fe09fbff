# Tokenizer stage: library tokattn.tokenizing (src/tokattn/tokenizing/), tests tests/unit/tokenizing/.
# Writes results/{experiment}/tokenizers/.


rule train_tokenizer:
    """Train one tokenizer on the train split and save its AutoTokenizer folder."""
    input:
        train=f"{RESULTS}/corpus/train.parquet",
    output:
        tokenizer=f"{RESULTS}/tokenizers/{{tokenizer}}/tokenizer.json",
        tokenizer_config=f"{RESULTS}/tokenizers/{{tokenizer}}/tokenizer_config.json",
    log:
        f"{RESULTS}/logs/train_tokenizer/{{tokenizer}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_tokenizer/{{tokenizer}}.tsv"
    conda:
        "../envs/tokenizers.yaml"
    threads: RES["threads"]
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        spec=get_tokenizer_spec,
        seed=config["corpus"]["seed"],
    script:
        "../scripts/train_tokenizer.py"


rule tokenizer_metrics:
    """Intrinsic metrics of one tokenizer on the test split (metrics.json)."""
    input:
        tokenizer=rules.train_tokenizer.output.tokenizer,
        tokenizer_config=rules.train_tokenizer.output.tokenizer_config,
        test=f"{RESULTS}/corpus/test.parquet",
    output:
        f"{RESULTS}/tokenizers/{{tokenizer}}/metrics.json",
    log:
        f"{RESULTS}/logs/tokenizer_metrics/{{tokenizer}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenizer_metrics/{{tokenizer}}.tsv"
    conda:
        "../envs/tokenizers.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    script:
        "../scripts/tokenizer_metrics.py"


rule tokenizer_table:
    """Collect every tokenizer's metrics into tokenizers/metrics.csv."""
    input:
        expand(f"{RESULTS}/tokenizers/{{tokenizer}}/metrics.json", tokenizer=TOKENIZERS),
    output:
        report(
            f"{RESULTS}/tokenizers/metrics.csv",
            caption="../docs/captions/tokenizer_metrics.rst",
            category="Tokenizers",
        ),
    log:
        f"{RESULTS}/logs/tokenizer_table.log",
    conda:
        "../envs/tokenizers.yaml"
    script:
        "../scripts/tokenizer_table.py"


rule tokenizers:
    """Target: every configured tokenizer with its metrics (tokenizers/, metrics.csv)."""
    input:
        get_tokenizer_output(),

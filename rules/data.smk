# Corpus stage: library tokattn.corpus (src/tokattn/corpus/), tests tests/unit/corpus/.
# Writes results/{experiment}/corpus/.


rule prepare_corpus:
    """Build the train/val/test parquet splits and stats.json from the corpus sources."""
    input:
        get_corpus_inputs,
    output:
        train=f"{RESULTS}/corpus/train.parquet",
        val=f"{RESULTS}/corpus/val.parquet",
        test=f"{RESULTS}/corpus/test.parquet",
        stats=report(
            f"{RESULTS}/corpus/stats.json",
            caption="../docs/captions/corpus_stats.rst",
            category="Corpus",
        ),
    log:
        f"{RESULTS}/logs/prepare_corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_corpus.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        corpus=config["corpus"],
    script:
        "../scripts/prepare_corpus.py"


rule corpus:
    """Target: the corpus stage (train/val/test parquet and stats.json)."""
    input:
        get_corpus_output(),

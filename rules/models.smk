# Training stage: library tokattn.training (src/tokattn/training/), tests tests/unit/training/.
# Writes results/{experiment}/tokenized/, models/ and checkpoints/.


rule pretokenize:
    """Tokenize one corpus split with one tokenizer into token ids and byte counts."""
    input:
        tokenizer=f"{RESULTS}/tokenizers/{{tokenizer}}/tokenizer.json",
        tokenizer_config=f"{RESULTS}/tokenizers/{{tokenizer}}/tokenizer_config.json",
        corpus=f"{RESULTS}/corpus/{{split}}.parquet",
        extra=get_pretokenize_extra,
    output:
        ids=f"{RESULTS}/tokenized/{{tokenizer}}/{{split}}.bin",
        byte_counts=f"{RESULTS}/tokenized/{{tokenizer}}/{{split}}.bytes.bin",
        docs=f"{RESULTS}/tokenized/{{tokenizer}}/{{split}}.docs.npy",
        meta=f"{RESULTS}/tokenized/{{tokenizer}}/{{split}}.json",
    log:
        f"{RESULTS}/logs/pretokenize/{{tokenizer}}/{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretokenize/{{tokenizer}}/{{split}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: RES["threads"]
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    script:
        "../scripts/pretokenize.py"


# Checkpoints live outside the outputs (results/{experiment}/checkpoints/...): Snakemake deletes the
# outputs of a failed job, and the checkpoint must survive so that a rerun resumes.
rule train_model:
    """Train one model arm for one seed and export its save_pretrained folder."""
    input:
        unpack(get_train_inputs),
    output:
        model=f"{RESULTS}/models/{{model}}/seed{{seed}}/model.safetensors",
        config=f"{RESULTS}/models/{{model}}/seed{{seed}}/config.json",
        tokenizer=f"{RESULTS}/models/{{model}}/seed{{seed}}/tokenizer.json",
        log=report(
            f"{RESULTS}/models/{{model}}/seed{{seed}}/train_log.csv",
            caption="../docs/captions/train_log.rst",
            category="Training",
            subcategory="{model}",
        ),
        summary=f"{RESULTS}/models/{{model}}/seed{{seed}}/train_summary.json",
    log:
        f"{RESULTS}/logs/train_model/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_model/{{model}}/seed{{seed}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: TRAIN_RES["threads"]
    resources:
        gpu=TRAIN_RES["gpu"],
        gpu_model=TRAIN_RES["gpu_model"] or "",
        mem_mb=TRAIN_RES["mem_mb"],
        runtime=TRAIN_RES["runtime_min"],
    params:
        arm=get_model_arm,
        arms=get_model_arms,
        training=config.get("training"),
        seed=lambda wildcards: int(wildcards.seed),
        tokenizer_dir=get_model_tokenizer_dir,
        tokenized_dir=get_model_tokenized_dir,
        out_dir=f"{RESULTS}/models/{{model}}/seed{{seed}}",
        checkpoint_dir=f"{RESULTS}/checkpoints/{{model}}/seed{{seed}}",
        tensorboard_dir=f"{RESULTS}/tensorboard/{{model}}/seed{{seed}}",
    script:
        "../scripts/train_model.py"


rule train:
    """Target: every model arm trained for every seed (models/{model}/seed{seed}/)."""
    input:
        get_train_output(),

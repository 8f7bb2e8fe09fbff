# Attention stage: library tokattn.attention (src/tokattn/attention/), tests tests/unit/attention/.
# Writes results/{experiment}/probes/, attention/ and analysis/.


rule build_probes:
    """Build the shared probe texts (probes/probes.jsonl) every model is dumped on."""
    input:
        test=f"{RESULTS}/corpus/test.parquet",
    output:
        f"{RESULTS}/probes/probes.jsonl",
    log:
        f"{RESULTS}/logs/build_probes.log",
    conda:
        "../envs/attention.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        probes=config["probes"],
    script:
        "../scripts/build_probes.py"


# A pretrained arm skips training: exported like a trained arm, so every later stage
# (dump, analyses, benchmarks, report) reads the same files.
rule import_pretrained:
    """Import a pretrained Hugging Face causal LM as an arm folder (seed0)."""
    input:
        get_pretrained_inputs,
    output:
        weights=f"{RESULTS}/models/{{pretrained}}/seed0/model.safetensors",
        config=f"{RESULTS}/models/{{pretrained}}/seed0/config.json",
        tokenizer=f"{RESULTS}/models/{{pretrained}}/seed0/tokenizer.json",
        summary=f"{RESULTS}/models/{{pretrained}}/seed0/train_summary.json",
    log:
        f"{RESULTS}/logs/import_pretrained/{{pretrained}}.log",
    wildcard_constraints:
        pretrained=_names_regex(PRETRAINED) or "(?!)",
    conda:
        "../envs/attention.yaml"
    resources:
        mem_mb=ATTN_RES["mem_mb"],
        runtime=ATTN_RES["runtime_min"],
    params:
        spec=get_pretrained_spec,
        out_dir=f"{RESULTS}/models/{{pretrained}}/seed0",
    script:
        "../scripts/import_pretrained.py"


rule dump_attention:
    """Dump every attention map of one model and seed on the probes (HDF5 store)."""
    input:
        unpack(get_attention_model_inputs),
        probes=f"{RESULTS}/probes/probes.jsonl",
    output:
        f"{RESULTS}/attention/{{model}}/seed{{seed}}.h5",
    log:
        f"{RESULTS}/logs/dump_attention/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/dump_attention/{{model}}/seed{{seed}}.tsv"
    wildcard_constraints:
        model=_attention_model_regex(),
    conda:
        "../envs/attention.yaml"
    threads: ATTN_RES["threads"]
    resources:
        gpu=ATTN_RES["gpu"],
        gpu_model=ATTN_RES["gpu_model"] or "",
        mem_mb=ATTN_RES["mem_mb"],
        runtime=ATTN_RES["runtime_min"],
    params:
        model_dir=get_attention_model_dir,
        tokenizer_dir=get_attention_tokenizer_dir,
        attention=get_attention_dump_settings(),
        probes=config["probes"],
    script:
        "../scripts/dump_attention.py"


rule analyze_heads:
    """Per-head statistics, correlations and word-level maps of one attention store."""
    input:
        store=f"{RESULTS}/attention/{{model}}/seed{{seed}}.h5",
    output:
        heads=f"{RESULTS}/analysis/{{model}}/seed{{seed}}/heads.parquet",
        word_maps=f"{RESULTS}/analysis/{{model}}/seed{{seed}}/word_maps.h5",
        correlations=f"{RESULTS}/analysis/{{model}}/seed{{seed}}/correlations.parquet",
    log:
        f"{RESULTS}/logs/analyze_heads/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/analyze_heads/{{model}}/seed{{seed}}.tsv"
    wildcard_constraints:
        model=_attention_model_regex(),
    conda:
        "../envs/attention.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        correlation_samples=ATTENTION.get("correlation_samples", 100000),
    script:
        "../scripts/analyze_heads.py"


rule compare_attention:
    """Jensen-Shannon divergence between runs per layer and matched head."""
    input:
        word_maps=get_word_map_files(),
    output:
        report(
            f"{RESULTS}/analysis/compare.parquet",
            caption="../docs/captions/attention_compare.rst",
            category="Attention",
        ),
    log:
        f"{RESULTS}/logs/compare_attention.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare_attention.tsv"
    conda:
        "../envs/attention.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    script:
        "../scripts/compare_attention.py"


rule attention:
    """Target: attention stores, per-head analyses and the cross-run comparison."""
    input:
        get_attention_output(),

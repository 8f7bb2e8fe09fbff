# Report stage, part 1: library tokattn.report (src/tokattn/report/), tests tests/unit/report/.
# The figures (one rule each, marked for `snakemake --report`) and the segmentation diff,
# under results/{experiment}/report/. Part 2, the viewer pages, the findings and the page
# itself (report/index.html), is rules/report_page.smk.


# Seconds of plotting from small tables: run beside Snakemake, not as cluster jobs.
localrules:
    report_corpus_figure,
    report_tokenizer_figure,
    report_segmentation_figure,
    report_training_figure,
    report_head_stats,
    report_head_entropy,
    report_js_layers,
    report_matched_heads,
    report_bpb,
    report_inference,
    report_memory,
    report_rouge,


rule report_segmentation:
    """Report part: how each tokenizer segments the stress probes (JSON)."""
    input:
        probes=f"{RESULTS}/probes/probes.jsonl",
        tokenizers=expand(
            f"{RESULTS}/tokenizers/{{tokenizer}}/tokenizer.json", tokenizer=TOKENIZERS
        ),
    output:
        f"{RESULTS}/report/segmentation.json",
    log:
        f"{RESULTS}/logs/report/segmentation.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/segmentation.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        tokenizer_dirs=get_report_tokenizer_dirs(),
    script:
        "../scripts/build_report_segmentation.py"


rule report_corpus_figure:
    """Report figure: corpus bytes per language and domain."""
    input:
        stats=f"{RESULTS}/corpus/stats.json",
    output:
        report(
            f"{REPORT_FIGURES}/corpus_bytes.{REPORT_FORMAT}",
            caption="../docs/captions/report/corpus_bytes.rst",
            category="Corpus",
        ),
    log:
        f"{RESULTS}/logs/report/corpus_bytes.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="corpus_bytes",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_tokenizer_figure:
    """Report figure: tokenizer metrics per language."""
    input:
        metrics=f"{RESULTS}/tokenizers/metrics.csv",
    output:
        report(
            f"{REPORT_FIGURES}/tokenizer_metrics.{REPORT_FORMAT}",
            caption="../docs/captions/report/tokenizer_metrics.rst",
            category="Tokenizers",
        ),
    log:
        f"{RESULTS}/logs/report/tokenizer_metrics.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="tokenizer_metrics",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_segmentation_figure:
    """Report figure: segmentation diff of the stress probes."""
    input:
        segmentation=f"{RESULTS}/report/segmentation.json",
    output:
        report(
            f"{REPORT_FIGURES}/segmentation.{REPORT_FORMAT}",
            caption="../docs/captions/report/segmentation.rst",
            category="Tokenizers",
        ),
    log:
        f"{RESULTS}/logs/report/segmentation_figure.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="segmentation",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_training_figure:
    """Report figure: training curves against bytes seen."""
    input:
        logs=get_report_train_logs(),
    output:
        report(
            f"{REPORT_FIGURES}/training_curves.{REPORT_FORMAT}",
            caption="../docs/captions/report/training_curves.rst",
            category="Training",
        ),
    log:
        f"{RESULTS}/logs/report/training_curves.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="training_curves",
        settings={**get_report_settings(), "runs": get_report_train_runs()},
    script:
        "../scripts/build_report_figure.py"


rule report_head_grid:
    """Report figure: layer x head attention grid of one model on the report probe."""
    input:
        store=get_report_store,
        probes=f"{RESULTS}/probes/probes.jsonl",
    output:
        report(
            f"{REPORT_FIGURES}/head_grid_{{model}}.{REPORT_FORMAT}",
            caption="../docs/captions/report/head_grid.rst",
            category="Attention",
            subcategory="Head grids",
        ),
    log:
        f"{RESULTS}/logs/report/head_grid_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/head_grid_{{model}}.tsv"
    wildcard_constraints:
        model=_attention_model_regex(),
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        figure="head_grid",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_cross_attention:
    """Report figure: token x byte cross-attention of one byte-branch arm."""
    input:
        store=get_report_store,
        probes=f"{RESULTS}/probes/probes.jsonl",
    output:
        report(
            f"{REPORT_FIGURES}/cross_attention_{{model}}.{REPORT_FORMAT}",
            caption="../docs/captions/report/cross_attention.rst",
            category="Attention",
            subcategory="Cross-attention",
        ),
    log:
        f"{RESULTS}/logs/report/cross_attention_{{model}}.log",
    wildcard_constraints:
        model=_attention_model_regex(),
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        figure="cross_attention",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_word_maps:
    """Report figure: word-level attention maps of the report probe across models."""
    input:
        word_maps=get_report_first_word_maps(),
        probes=f"{RESULTS}/probes/probes.jsonl",
    output:
        report(
            f"{REPORT_FIGURES}/word_maps.{REPORT_FORMAT}",
            caption="../docs/captions/report/word_maps.rst",
            category="Attention",
        ),
    log:
        f"{RESULTS}/logs/report/word_maps.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/word_maps.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        figure="word_maps",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_head_stats:
    """Report figure: per-head statistic distributions per model."""
    input:
        heads=get_report_heads(),
    output:
        report(
            f"{REPORT_FIGURES}/head_stats.{REPORT_FORMAT}",
            caption="../docs/captions/report/head_stats.rst",
            category="Attention",
        ),
    log:
        f"{RESULTS}/logs/report/head_stats.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="head_stats",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_head_entropy:
    """Report figure: normalised attention entropy per head and model, with the gate's threshold."""
    input:
        heads=get_report_heads(),
    output:
        report(
            f"{REPORT_FIGURES}/head_entropy.{REPORT_FORMAT}",
            caption="../docs/captions/report/head_entropy.rst",
            category="Attention",
        ),
    log:
        f"{RESULTS}/logs/report/head_entropy.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="head_entropy",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_js_layers:
    """Report figure: Jensen-Shannon divergence between runs per layer."""
    input:
        compare=f"{RESULTS}/analysis/compare.parquet",
    output:
        report(
            f"{REPORT_FIGURES}/js_layers.{REPORT_FORMAT}",
            caption="../docs/captions/report/js_layers.rst",
            category="Attention",
        ),
    log:
        f"{RESULTS}/logs/report/js_layers.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="js_layers",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_matched_heads:
    """Report figure: divergence of optimally matched heads."""
    input:
        compare=f"{RESULTS}/analysis/compare.parquet",
    output:
        report(
            f"{REPORT_FIGURES}/matched_heads.{REPORT_FORMAT}",
            caption="../docs/captions/report/matched_heads.rst",
            category="Attention",
        ),
    log:
        f"{RESULTS}/logs/report/matched_heads.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="matched_heads",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_bpb:
    """Report figure: bits per byte with 95 % CI bars."""
    input:
        summary=f"{RESULTS}/eval/summary.csv",
        test=f"{RESULTS}/corpus/test.parquet",
    output:
        report(
            f"{REPORT_FIGURES}/bpb.{REPORT_FORMAT}",
            caption="../docs/captions/report/bpb.rst",
            category="Benchmarks",
        ),
    log:
        f"{RESULTS}/logs/report/bpb.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="bpb",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_inference:
    """Report figure: inference accuracy with 95 % CI bars."""
    input:
        summary=f"{RESULTS}/eval/summary.csv",
        eval_items=f"{RESULTS}/eval/items/inference.jsonl",
    output:
        report(
            f"{REPORT_FIGURES}/inference.{REPORT_FORMAT}",
            caption="../docs/captions/report/inference.rst",
            category="Benchmarks",
        ),
    log:
        f"{RESULTS}/logs/report/inference.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="inference",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_memory:
    """Report figure: memory retention against distance in bytes."""
    input:
        summary=f"{RESULTS}/eval/summary.csv",
        eval_items=f"{RESULTS}/eval/items/memory.jsonl",
    output:
        report(
            f"{REPORT_FIGURES}/memory.{REPORT_FORMAT}",
            caption="../docs/captions/report/memory.rst",
            category="Benchmarks",
        ),
    log:
        f"{RESULTS}/logs/report/memory.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="memory",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"


rule report_rouge:
    """Report figure: summarization ROUGE with 95 % CI bars."""
    input:
        summary=f"{RESULTS}/eval/summary.csv",
    output:
        report(
            f"{REPORT_FIGURES}/rouge.{REPORT_FORMAT}",
            caption="../docs/captions/report/rouge.rst",
            category="Benchmarks",
        ),
    log:
        f"{RESULTS}/logs/report/rouge.log",
    conda:
        "../envs/report.yaml"
    params:
        figure="rouge",
        settings=get_report_settings(),
    script:
        "../scripts/build_report_figure.py"

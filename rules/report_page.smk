# Report stage, part 2: library tokattn.report (page, findings) and tokattn.viewer (viewer
# pages), tests tests/unit/report/ and tests/unit/viewer/. Writes results/{experiment}/report/
# viewer/*.html, the findings and report/index.html from the figures of rules/report.smk.


# Seconds of work from small tables: run beside Snakemake, not as cluster jobs.
localrules:
    report,
    report_page,
    report_findings,


rule report_viewer:
    """Report part: interactive attention viewer page of one model and seed."""
    input:
        store=[f"{RESULTS}/attention/{{model}}/seed{{seed}}.h5"],
        tokenizer=[f"{RESULTS}/models/{{model}}/seed{{seed}}/tokenizer.json"],
    output:
        f"{RESULTS}/report/viewer/{{model}}_seed{{seed}}.html",
    log:
        f"{RESULTS}/logs/report/viewer/{{model}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/viewer/{{model}}_seed{{seed}}.tsv"
    wildcard_constraints:
        model=_attention_model_regex(),
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        tokenizer_dirs=lambda wildcards, input: [
            str(Path(t).parent) for t in input.tokenizer
        ],
        title=lambda wildcards: f"{wildcards.model} seed {wildcards.seed}",
    script:
        "../scripts/build_report_viewer.py"


rule report_viewer_compare:
    """Report part: viewer page comparing every model's first seed."""
    input:
        store=[
            f"{RESULTS}/attention/{m}/seed{s}.h5" for m, s in get_report_first_runs()
        ],
        tokenizer=[
            f"{RESULTS}/models/{m}/seed{s}/tokenizer.json"
            for m, s in get_report_first_runs()
        ],
    output:
        f"{RESULTS}/report/viewer/compare.html",
    log:
        f"{RESULTS}/logs/report/viewer/compare.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/viewer/compare.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=RES["cpu_mem_mb"],
        runtime=RES["cpu_runtime_min"],
    params:
        tokenizer_dirs=lambda wildcards, input: [
            str(Path(t).parent) for t in input.tokenizer
        ],
        title="all models (first seed)",
    script:
        "../scripts/build_report_viewer.py"


rule report_findings:
    """Report part: findings (paired differences over seeds, verdicts) and the learned gate."""
    input:
        unpack(get_report_findings_inputs),
    output:
        findings=f"{RESULTS}/report/findings.csv",
        gate=f"{RESULTS}/report/learned_gate.csv",
    log:
        f"{RESULTS}/logs/report/findings.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/findings.tsv"
    conda:
        "../envs/report.yaml"
    params:
        eval_runs=get_report_findings_runs(),
        tokenizers=get_eval_tokenizers(),
    script:
        "../scripts/build_report_findings.py"


rule report_page:
    """Report part: write report/index.html from the figures and the numbers."""
    input:
        unpack(get_report_page_inputs),
        findings=f"{RESULTS}/report/findings.csv",
        learned_gate=f"{RESULTS}/report/learned_gate.csv",
        heads=get_report_heads(),
    output:
        f"{RESULTS}/report/index.html",
    log:
        f"{RESULTS}/logs/report/index.log",
    conda:
        "../envs/report.yaml"
    params:
        figures=get_report_figures(),
        config=get_report_config(),
    script:
        "../scripts/build_report.py"


rule report:
    """Target: the report, results/{experiment}/report/index.html with figures and viewer pages."""
    input:
        f"{RESULTS}/report/index.html",

"""Report stage (rules/report.smk): figures (matplotlib, Agg), tables and generated findings.

Takes: every stage's results (tokenizer metrics, train logs, heads/compare parquet, eval/summary.csv).
Writes: `report/index.html` with `report/figures/` (and `report/viewer/` through tokattn.viewer).
Entry points: `builders` (one function per figure set, reading result files), `page.build_page`.

Figure functions (``figures_*``) take plain data (DataFrames, arrays) and return a
matplotlib Figure; ``builders`` reads the result files and calls them; ``page`` writes
``index.html``. Cross-tokenizer quantities are in bytes and bits per byte; benchmark
numbers are mean ± 95 % CI over seeds as aggregated in ``results/{experiment}/eval/summary.csv``.
"""

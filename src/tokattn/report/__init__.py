"""The HTML report: figures (matplotlib, Agg), tables and a generated text section.

Figure functions (``figures_*``) take plain data (DataFrames, arrays) and return a
matplotlib Figure; ``builders`` reads the result files and calls them; ``page`` writes
``index.html``. Cross-tokenizer quantities are in bytes and bits per byte; benchmark
numbers are mean ± 95 % CI over seeds as aggregated in ``results/{experiment}/eval/summary.csv``.
"""

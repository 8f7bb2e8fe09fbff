"""Evaluation stage (rules/evaluate.smk): build the benchmark items, score every model on them.

Takes: the corpus splits (for `tasks`), the trained model folders and the config's `eval`.
Writes: `eval/items/{task}.jsonl`, `eval/{model}/seed{seed}/{task}.json` (+ `.jsonl`), `eval/summary.csv`.
Entry points: `tasks.build` (items), `runners` (one function per task), `aggregate` (summary.csv);
`lm`, `scoring`, `generation`, `model_io` and `metrics` (local ROUGE) serve the runners.
"""

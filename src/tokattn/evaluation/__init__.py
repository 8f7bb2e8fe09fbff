"""Scoring trained models: bits per byte, multiple choice, retention, summarization.

Modules: `model_io` (load a model folder), `lm` (bits per byte), `scoring` (choice
log-likelihoods with a shared-prefix cache), `generation` (byte-budgeted decoding),
`runners` (one function per task writing `{task}.json` + `{task}.jsonl`) and
`aggregate` (bootstrap CIs, `summary.csv`).
"""

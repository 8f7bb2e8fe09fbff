"""Benchmark items: built-in generators, task-file readers and the training mix.

Items are plain dataclasses serialised one per JSONL line (`results/{experiment}/eval/items/`), so
every model is scored on the very same items and a user can read or reuse them (e.g.
with lm-evaluation-harness, see `tasks/` at the repository root). Generators take a
`split` ("train" or "eval") and a seed; the two splits draw names, numbers and corpus
documents from disjoint pools, so the training mix never shows an evaluation item.
"""

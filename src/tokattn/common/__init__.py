"""Helpers that several stages share: the config loader, atomic writes, byte spans, finite-model checks.

Takes: config files (config/schema.yaml), text with token offsets, model folders.
Writes: nothing by itself; `atomic_files` gives every stage its temp-and-rename writes.
Entry points: `config.load_config`, `atomic_files.write_text_atomic`, `byte_spans`, `model_checks`.
"""

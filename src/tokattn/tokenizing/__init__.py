"""Tokenizer stage (rules/tokenizers.smk): train each configured tokenizer and measure it.

Takes: the corpus splits (`corpus/*.parquet`) and the config's `tokenizers` list.
Writes: `tokenizers/{tokenizer}/` (AutoTokenizer folder), its `metrics.json`, `tokenizers/metrics.csv`.
Entry points: `tokenization.train_tokenizer`, `tokenization.token_byte_spans`, `metrics.tokenizer_metrics`.
"""

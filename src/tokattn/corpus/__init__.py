"""Corpus stage (rules/data.smk): clean, de-duplicate and split the configured text sources.

Takes: `corpus.sources` of the config (built-in package text, HF datasets, local files).
Writes: `corpus/{train,val,test}.parquet` and `corpus/stats.json` under results/{experiment}/.
Entry points: `build.build_corpus`; `builtin_text`, `hf_source` and `wikitext` read the sources.
"""

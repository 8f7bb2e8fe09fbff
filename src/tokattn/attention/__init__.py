"""Attention stage (rules/attention.smk): dump every attention map of every model on one probe set, then analyse heads.

Takes: the trained model folders (or a pretrained hub model), the tokenizers and the corpus test split.
Writes: `probes/probes.jsonl`, `attention/{model}/seed{seed}.h5`, `analysis/{model}/seed{seed}/`, `analysis/compare.parquet`.
Entry points: `probes.build_probes`, `dump.dump_attention`, `store.AttentionStore`, `head_analysis.analyze_store`, `compare`.
"""

"""Training stage (rules/models.smk): tokenize the corpus once per tokenizer, train one model per arm and seed.

Takes: the corpus splits, the tokenizer folders and the config's `models` and `training`.
Writes: `tokenized/{tokenizer}/`, `models/{model}/seed{seed}/` (save_pretrained + train_log.csv), `checkpoints/`.
Entry points: `tokenized.pretokenize_split`, `train.train_model`, `model.build_model`, `export.export_model`; `byte_branch` (the byte-branch model).
"""

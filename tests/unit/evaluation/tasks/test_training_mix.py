"""Training mix: train-split instances only, sized by bytes, deterministic."""

from __future__ import annotations

import pandas as pd

from tokattn.evaluation.tasks.build import build_items, training_mix_texts, write_training_mix


def test_mix_fills_the_budget_with_train_instances(eval_cfg, train_docs, test_docs):
    texts = training_mix_texts(eval_cfg, train_docs, budget_bytes=20_000)
    total = sum(len(t.encode()) for t, _, _ in texts)
    assert total >= 20_000
    assert total - max(len(t.encode()) for t, _, _ in texts) < 20_000  # stops right after
    assert {task for *_, task in texts} == {"inference", "memory", "summarization"}
    assert texts == training_mix_texts(eval_cfg, train_docs, budget_bytes=20_000)
    eval_contexts = [
        it.context
        for task in ("inference", "memory")
        for it in build_items(task, eval_cfg, test_docs, "eval")
    ]
    mix = "\n".join(t for t, _, _ in texts)
    assert not any(ctx in mix for ctx in eval_contexts)
    assert training_mix_texts(eval_cfg, train_docs, budget_bytes=0) == []


def test_write_training_mix_is_corpus_shaped(tmp_path, eval_cfg, train_docs):
    corpus = tmp_path / "train.parquet"
    pd.DataFrame(
        {
            "id": [d.id for d in train_docs],
            "text": [d.text for d in train_docs],
            "language": [d.language for d in train_docs],
            "domain": [d.domain for d in train_docs],
        }
    ).to_parquet(corpus)
    cfg = {**eval_cfg, "training_mix": {**eval_cfg["training_mix"], "share": 0.2}}
    stats = write_training_mix(cfg, corpus, tmp_path / "mix.parquet", tmp_path / "mix.json")
    df = pd.read_parquet(tmp_path / "mix.parquet")
    assert list(df.columns) == ["id", "text", "source", "domain", "language", "licence", "n_bytes"]
    corpus_bytes = stats["corpus_train_bytes"]
    # share of the combined text: mix / (corpus + mix) ≈ 0.2
    assert 0.2 <= stats["mix_bytes"] / (corpus_bytes + stats["mix_bytes"]) < 0.3
    assert int(df["n_bytes"].sum()) == stats["mix_bytes"]
    assert (tmp_path / "mix.json").is_file()

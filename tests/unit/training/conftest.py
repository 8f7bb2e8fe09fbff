"""Fixtures for the training stage: a small real corpus, trained tokenizers, token files.

The corpus is Python's own help-topic text (pydoc_data, shipped with every Python) plus a
multilingual paragraph, so multi-byte characters, byte fallback and dropped whitespace all
occur. Everything is session-scoped: tokenizers and token files are built once.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest

MULTILINGUAL = (
    "Grüße aus Köln — naïve café. 日本語のテキストです。 Ελληνικά κείμενα.\n"
    "Двойной  пробел и\tтабуляция. 😀 emoji; العربية من اليمين.\n\n"
)
TOKENIZER_SPECS = {
    "byte": {"name": "byte", "kind": "byte"},
    "bpe": {"name": "bpe", "kind": "bpe", "vocab_size": 512},
    "wordpiece": {"name": "wordpiece", "kind": "wordpiece", "vocab_size": 512},
}


def _documents() -> list[str]:
    from pydoc_data.topics import topics

    docs = [unicodedata.normalize("NFC", topics[k]) for k in sorted(topics)[:48]]
    docs += [MULTILINGUAL * (1 + i % 3) for i in range(12)]
    return docs


def _frame(docs: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"doc{i}" for i in range(len(docs))],
            "text": docs,
            "source": "pydoc",
            "domain": "technical",
            "language": "en",
            "licence": "PSF-2.0",
            "n_bytes": [len(d.encode("utf-8")) for d in docs],
        }
    )


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """train/val/test parquet files with the corpus stage's columns."""
    out = tmp_path_factory.mktemp("corpus")
    docs = _documents()
    splits = {"val": docs[1::10], "test": docs[2::10]}
    held = {id(d) for part in splits.values() for d in part}
    splits["train"] = [d for d in docs if id(d) not in held]
    for split, part in splits.items():
        _frame(part).to_parquet(out / f"{split}.parquet")
    return out


@pytest.fixture(scope="session")
def tokenizers_dir(corpus_dir, tmp_path_factory) -> Path:
    """results/tokenizers-like folder with the TOKENIZER_SPECS tokenizers trained."""
    from tokattn.tokenizing.tokenization import train_tokenizer

    out = tmp_path_factory.mktemp("tokenizers")
    for name, spec in TOKENIZER_SPECS.items():
        train_tokenizer(spec, corpus_dir / "train.parquet", out / name, seed=0)
    return out


@pytest.fixture(scope="session")
def tokenized_dir(corpus_dir, tokenizers_dir, tmp_path_factory) -> Path:
    """results/tokenized-like folder: every tokenizer × train/val split."""
    from tokattn.training.tokenized import pretokenize_split

    out = tmp_path_factory.mktemp("tokenized")
    for name in TOKENIZER_SPECS:
        for split in ("train", "val"):
            pretokenize_split(
                tokenizers_dir / name, corpus_dir / f"{split}.parquet", out / name, split, False
            )
    return out


def tiny_arm(tokenizer: str = "bpe", **overrides) -> dict:
    """A model arm small enough to train dozens of steps in a second or two on CPU."""
    arm = {
        "name": f"tiny_{tokenizer}",
        "tokenizer": tokenizer,
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 2,
        "d_ff": 64,
        "context_bytes": 128,
    }
    arm.update(overrides)
    return arm


def tiny_training(**overrides) -> dict:
    """Training options for the tiny arm: 16 steps of 4 sequences on CPU, fp32."""
    training = {
        "budget_bytes": 8000,
        "batch_size": 4,
        "micro_batch_size": 2,
        "lr": 3e-3,
        "min_lr": 3e-4,
        "warmup_fraction": 0.1,
        "eval_interval": 8,
        "eval_bytes": 3000,
        "checkpoint_interval": 5,
        "log_interval": 3,  # not a divisor of checkpoint_interval: resume carries a partial interval
        "device": "cpu",
    }
    training.update(overrides)
    return training


@pytest.fixture(scope="session")
def run_training(tokenizers_dir, tokenized_dir, tmp_path_factory):
    """Call train_model for an arm; each call gets fresh output and checkpoint folders
    unless `checkpoint_dir` is passed (to resume). Returns (summary, model folder)."""
    from tokattn.training.train import train_model

    def run(arm: dict, training: dict, seed: int = 0, **kwargs):
        out = tmp_path_factory.mktemp(kwargs.pop("tag", "run"))
        summary = train_model(
            arm=arm,
            arms=[arm, *kwargs.pop("extra_arms", [])],
            training=training,
            seed=seed,
            tokenizer_dir=tokenizers_dir / arm["tokenizer"],
            tokenized_dir=tokenized_dir / arm["tokenizer"],
            out_dir=out / "model",
            checkpoint_dir=kwargs.pop("checkpoint_dir", out / "checkpoints"),
            threads=kwargs.pop("threads", 1),
            **kwargs,
        )
        return summary, out / "model"

    return run

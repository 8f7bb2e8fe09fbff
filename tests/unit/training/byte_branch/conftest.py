"""Fixtures for the byte branch: tiny real tokenizers of every kind and small models."""

from __future__ import annotations

import random

import pytest
import torch

from tests.tiny_models import write_corpus_parquet
from tokattn.training.model import ArmSpec, build_model

SENTENCES = [
    "All human beings are born free and equal in dignity and rights.",
    "Все люди рождаются свободными и равными в своем достоинстве и правах.",
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है।",
    "人人生而自由,在尊严和权利上一律平等。他们赋有理性和良心。",
    "Great news 😀🎉 — the café opens at 09:30 on 12/05!",
    "def train(x: int) -> list[str]:\n    return [str(i) for i in range(x)]  # 2024",
]
# Characters absent from the training text: byte fallback (or <unk> for WordPiece).
UNSEEN = "Ꙭ 𓂀 🦩"
MULTILINGUAL = "Hello wörld, 日本語 and 😀 emoji; हिन्दी क्षत्रिय. 人人生而自由。 " + UNSEEN
KINDS = ["byte", "char", "bpe", "bytelevel_bpe", "unigram", "wordpiece"]
VOCAB = {"char": 1200, "bpe": 600, "bytelevel_bpe": 500, "unigram": 600, "wordpiece": 500}


@pytest.fixture(scope="session")
def tokenizers_by_kind(tmp_path_factory):
    """kind -> (tokenizer, folder), every kind trained once on a small multilingual corpus."""
    from tokattn.tokenizing.tokenization import train_tokenizer

    rng = random.Random(0)
    texts = [" ".join(rng.sample(SENTENCES, 3)) for _ in range(120)]
    root = tmp_path_factory.mktemp("bb_tokenizers")
    parquet = root / "train.parquet"
    write_corpus_parquet(parquet, texts)
    out = {}
    for kind in KINDS:
        spec = {"name": kind, "kind": kind}
        if kind in VOCAB:
            spec["vocab_size"] = VOCAB[kind]
        out[kind] = (train_tokenizer(spec, parquet, root / kind, seed=0), root / kind)
    return out


def small_llama(vocab_size=300, n_layers=3, attn="eager", tied=True, seed=0):
    """Return a small random LlamaForCausalLM built the way the training stage builds arms."""
    spec = ArmSpec(
        name="arm",
        tokenizer="tok",
        vocab_size=vocab_size,
        d_model=64,
        n_layers=n_layers,
        n_heads=4,
        n_kv_heads=2,
        d_ff=128,
        context_tokens=128,
        tied_embeddings=tied,
        init_std=0.2,
    )
    return build_model(spec, seed, attn).eval()


def random_table(vocab_size=300, width=6, seed=0):
    """Return a random token→bytes table: ids 0..3 byte-less, others 1..width bytes."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, width + 1, (vocab_size,), generator=g)
    lengths[:4] = 0
    table = torch.randint(0, 256, (vocab_size, width), generator=g)
    table[torch.arange(width)[None, :] >= lengths[:, None]] = -1
    return table, lengths

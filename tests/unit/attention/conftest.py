"""Tiny randomly initialised GPT-2 and Llama (GQA) models saved locally, a probe set, dumps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from tokattn.attention.dump import dump_attention
from tokattn.attention.probes import build_probes
from tokattn.tokenizing.tokenization import train_tokenizer

CONTEXT = 128
TEXTS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the sun all day long.",
    "Grüße aus Köln! Der Dom ist groß, und die Straßen sind voller Menschen.",
    "Москва — столица России. 東京は日本の首都です。 The end of the line is near.",
    "Numbers like 12345 and 678 + 99 = 777 appear in text, as do dates such as 2024-06-30.",
]


def _randomise_biases(model: torch.nn.Module, seed: int) -> None:
    # Random init leaves biases at zero; a decomposition test must see them.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    rows = {
        "id": [f"doc{i}" for i in range(len(TEXTS))],
        "text": TEXTS,
        "source": ["fixture"] * len(TEXTS),
        "domain": ["news", "news", "mixed", "technical"],
        "language": ["en", "de", "ru", "en"],
        "licence": ["CC0"] * len(TEXTS),
    }
    df = pd.DataFrame(rows)
    df["n_bytes"] = df["text"].map(lambda t: len(t.encode("utf-8")))
    df.to_parquet(root / "test.parquet")
    pd.concat([df] * 20, ignore_index=True).to_parquet(root / "train.parquet")
    return root


@pytest.fixture(scope="session")
def byte_tokenizer_dir(tmp_path_factory, corpus_dir) -> Path:
    out = tmp_path_factory.mktemp("tok") / "byte"
    train_tokenizer({"name": "byte", "kind": "byte"}, corpus_dir / "train.parquet", out)
    return out


@pytest.fixture(scope="session")
def bpe_tokenizer_dir(tmp_path_factory, corpus_dir) -> Path:
    out = tmp_path_factory.mktemp("tok") / "bpe"
    spec = {"name": "bpe", "kind": "bpe", "vocab_size": 400, "min_frequency": 1}
    train_tokenizer(spec, corpus_dir / "train.parquet", out)
    return out


def _save(model, tokenizer_dir: Path, out: Path) -> Path:
    from tokattn.tokenizing.tokenization import load_tokenizer

    model.save_pretrained(out)
    load_tokenizer(tokenizer_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory, byte_tokenizer_dir) -> Path:
    """Llama with grouped-query attention (4 query heads, 2 KV heads) and an o_proj bias."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tokattn.tokenizing.tokenization import load_tokenizer

    torch.manual_seed(0)
    vocab = len(load_tokenizer(byte_tokenizer_dir))
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=CONTEXT,
        attention_bias=True,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    _randomise_biases(model, 1)
    with torch.no_grad():  # sharper than random init, so maps are not near-uniform
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(8)
    return _save(model, byte_tokenizer_dir, tmp_path_factory.mktemp("models") / "llama")


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    """GPT-2 (fused c_attn, Conv1D c_proj with bias) on a BPE tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from tokattn.tokenizing.tokenization import load_tokenizer

    torch.manual_seed(0)
    vocab = len(load_tokenizer(bpe_tokenizer_dir))
    cfg = GPT2Config(
        vocab_size=vocab,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=CONTEXT,
        bos_token_id=0,
        eos_token_id=1,
    )
    model = GPT2LMHeadModel(cfg)
    _randomise_biases(model, 2)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight.mul_(8)
    return _save(model, bpe_tokenizer_dir, tmp_path_factory.mktemp("models") / "gpt2")


@pytest.fixture(scope="session")
def probes_path(tmp_path_factory, corpus_dir) -> Path:
    out = tmp_path_factory.mktemp("probes") / "probes.jsonl"
    build_probes(
        corpus_dir / "test.parquet", out, {"max_bytes": 96, "stress_per_kind": 1, "simple": False}
    )
    return out


@pytest.fixture(scope="session")
def model_dirs(llama_dir, gpt2_dir, byte_tokenizer_dir, bpe_tokenizer_dir) -> dict:
    return {"llama": (llama_dir, byte_tokenizer_dir), "gpt2": (gpt2_dir, bpe_tokenizer_dir)}


@pytest.fixture(scope="session")
def stores(tmp_path_factory, model_dirs, probes_path) -> dict[str, Path]:
    """One attention store per tiny model on the probe set (iterative lens on)."""
    root = tmp_path_factory.mktemp("attention")
    out = {}
    for name, (model_dir, tok_dir) in model_dirs.items():
        out[name] = dump_attention(
            model_dir,
            probes_path,
            root / name / "seed0.h5",
            name,
            0,
            {"iterative_lens_k": 2, "top_k": 3, "device": "cpu"},
            tokenizer_dir=tok_dir,
        )
    return out

"""Tiny randomly initialised Llama models with a byte-level and a BPE tokenizer, for tests.

Each is a `save_pretrained` folder (model + tokenizer side by side) that opens with
AutoModelForCausalLM / AutoTokenizer, shaped like the training stage's exports: special
tokens <s> </s> <pad> <unk> with ids 0..3 and a template that prepends <s>.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<s>", "</s>", "<pad>", "<unk>"]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]

TRAIN_TEXT = (
    "The quick brown fox jumps over the lazy dog. Alice has more books than Bob. "
    "What is 123 plus 456? The pass key is 48213. Remember it.\n"
    "Der schnelle braune Fuchs springt über den faulen Hund. Anna hat mehr Bücher als Ben.\n"
    "Le renard brun saute par-dessus le chien paresseux. Qui a le plus de livres ?\n"
    "敏捷的棕色狐狸跳过了懒狗。张伟的书比王芳多。密码是什么？\n"
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है। पासवर्ड क्या है?\n"
) * 20


def tiny_llama_config(vocab_size: int, context: int) -> LlamaConfig:
    """Return the config of the tiny test decoders (2 layers, width 32, GQA 4/2, tied)."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=True,
    )


def write_corpus_parquet(
    path: str | Path, texts: list[str], language: str = "mul", domain: str = "mixed"
) -> Path:
    """Write `texts` as a corpus-stage parquet (id, text, source, domain, ...); return the path."""
    import pandas as pd

    pd.DataFrame(
        {
            "id": [f"d{i}" for i in range(len(texts))],
            "text": texts,
            "source": "test",
            "domain": domain,
            "language": language,
            "licence": "CC0",
            "n_bytes": [len(t.encode("utf-8")) for t in texts],
        }
    ).to_parquet(path, index=False)
    return Path(path)


def _template(tok: Tokenizer) -> None:
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 0)]
    )


def byte_tokenizer() -> Tokenizer:
    """Return a byte-level tokenizer: 4 specials + 256 GPT-2 byte symbols, no merges."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    from tokattn.common.byte_spans import BYTE_ENCODER

    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[BYTE_ENCODER[b]] = len(vocab)
    assert set(alphabet) <= set(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    _template(tok)
    return tok


def bpe_tokenizer(vocab_size: int = 600) -> Tokenizer:
    """Return a SentencePiece-style BPE (metaspace, byte fallback) trained on TRAIN_TEXT."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS + BYTE_TOKENS, show_progress=False
    )
    tok.train_from_iterator(TRAIN_TEXT.splitlines(), trainer)
    _template(tok)
    return tok


def save_tiny_model(
    folder: str | Path, kind: str = "byte", context: int = 128, seed: int = 0
) -> Path:
    """Write a tiny random Llama + tokenizer folder of `kind` ("byte" or "bpe"); return it."""
    folder = Path(folder)
    raw = byte_tokenizer() if kind == "byte" else bpe_tokenizer()
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=context,
    )
    config = tiny_llama_config(raw.get_vocab_size(with_added_tokens=True), context)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # Random init gives near-uniform predictions; larger logits make rankings non-trivial.
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(25.0)
    model.eval()
    model.save_pretrained(folder)
    hf_tok.save_pretrained(folder)
    return folder


def train_real_bpe_tokenizer(folder: str | Path, vocab_size: int = 500) -> Path:
    """Train a tokenizer of the project's `bpe` kind (tokattn.tokenizing.tokenization) on TRAIN_TEXT."""
    from tokattn.tokenizing.tokenization import train_tokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [line for line in TRAIN_TEXT.splitlines() if line]
    write_corpus_parquet(folder / "train.parquet", lines, language="en", domain="prose")
    spec = {"name": "bpe", "kind": "bpe", "vocab_size": vocab_size, "min_frequency": 1}
    train_tokenizer(spec, folder / "train.parquet", folder / "bpe")
    return folder / "bpe"


def save_tiny_byte_branch_model(
    folder: str | Path,
    tokenizer_dir: str | Path,
    context: int = 128,
    seed: int = 0,
    cross_layers=(0, 1),
    cross_window_bytes: int | None = None,
) -> Path:
    """Write a tiny byte-branch model (tokattn.training.byte_branch) on a trained tokenizer; return it.

    The main decoder is shaped like `save_tiny_model`'s; the cross-attention gates are 1
    (not the training init 0) and the queries sharpened, so the bytes change every logit.
    """
    from tokattn.tokenizing.tokenization import load_tokenizer
    from tokattn.training.byte_branch import ByteBranchForCausalLM, token_byte_table

    folder = Path(folder)
    tokenizer = load_tokenizer(tokenizer_dir)
    config = tiny_llama_config(len(tokenizer), context)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    llama = LlamaForCausalLM(config)
    with torch.no_grad():
        llama.model.embed_tokens.weight.mul_(25.0)
    table, lengths = token_byte_table(tokenizer_dir, vocab_size=config.vocab_size)
    model = ByteBranchForCausalLM.from_llama(
        llama,
        byte_d_model=16,
        byte_n_layers=1,
        byte_n_heads=2,
        byte_window=16,
        cross_layers=list(cross_layers),
        cross_n_heads=2,
        cross_window_bytes=cross_window_bytes,
        gate_init=1.0,
        max_token_bytes=int(table.shape[1]),
    )
    model.set_token_bytes(table, lengths)
    with torch.no_grad():
        for cross in model.cross_attn:
            cross.q_proj.weight.mul_(8.0)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.model_max_length = context
    tokenizer.save_pretrained(folder)
    return folder

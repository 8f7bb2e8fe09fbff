"""Byte spans when a byte-fallback vocabulary also marks its <0xNN> pieces as special."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tokattn.common.byte_spans import token_byte_lengths, token_byte_spans

BYTE_PIECES = [f"<0x{b:02X}>" for b in range(256)]


def _bpe_with_special_byte_pieces() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "<unk>", *BYTE_PIECES], show_progress=False
    )
    tok.train_from_iterator(["plain ascii words only, nothing else"] * 20, trainer)
    return tok


def test_each_byte_piece_gets_its_own_byte():
    tok = _bpe_with_special_byte_pieces()
    text = "Größe 日本"
    data = text.encode("utf-8")
    enc = tok.encode(text, add_special_tokens=False)
    spans = token_byte_spans(tok, text)
    pieces = [(t, s) for t, s in zip(enc.tokens, spans, strict=True) if t.startswith("<0x")]
    assert len(pieces) >= sum(1 for b in data if b >= 0x80)  # every non-ASCII byte
    for token, (start, end) in pieces:
        assert end - start == 1 and data[start] == int(token[3:5], 16), (token, start, end)
    # Spans tile the text (the prepended metaspace covers no byte).
    assert spans[-1][1] == len(data)
    lengths = token_byte_lengths(tok, enc.ids)
    assert sum(lengths) == len(data)

"""The token→bytes table of a tokenizer: the UTF-8 bytes every vocabulary entry stands for.

The byte branch rebuilds the byte stream of a text from its token ids alone (so training,
evaluation and generation need nothing but ids): byte i of the frame is a table lookup.
Each entry follows `tokattn.common.byte_spans.TokenByteRules`:

- byte-level BPE / byte kinds: the GPT-2 byte↔unicode map, so the frame is the text exactly;
- metaspace kinds (char, bpe, unigram): "▁" → b" ", so the frame is the text with the one
  space the pre-tokenizer prepends (b" " + text, or the text itself when it starts with a
  space); byte-fallback "<0xNN>" → that byte;
- WordPiece: "##" stripped; the Whitespace pre-tokenizer drops whitespace, so the frame is
  the text without whitespace (and without characters that became <unk>);
- special and unknown tokens (<s>, </s>, <pad>, <unk>) and unused ids: no bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tokattn.common.byte_spans import TokenByteRules


def token_byte_table(tokenizer_dir_or_tokenizer, vocab_size: int | None = None):
    """Return (table [V, L] int16, -1 padded; lengths [V] int16) of the tokenizer's vocabulary.

    `vocab_size` pads the table with byte-less rows up to a model's (larger) vocabulary.
    """
    tokenizer = tokenizer_dir_or_tokenizer
    if isinstance(tokenizer, (str, Path)):
        from tokattn.tokenizing.folder import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    rules = TokenByteRules.from_tokenizer(tokenizer)
    n_ids = max(rules.vocab, default=-1) + 1
    if vocab_size is not None:
        if vocab_size < n_ids:
            raise ValueError(f"vocab_size {vocab_size} is smaller than the tokenizer's {n_ids} ids")
        n_ids = vocab_size
    own = {i: rules.token_bytes(tok) or b"" for i, tok in rules.vocab.items()}
    width = max(1, max((len(b) for b in own.values()), default=1))
    table = np.full((n_ids, width), -1, dtype=np.int16)
    lengths = np.zeros(n_ids, dtype=np.int16)
    for i, data in own.items():
        table[i, : len(data)] = np.frombuffer(data, dtype=np.uint8)
        lengths[i] = len(data)
    return table, lengths


def table_bytes(table: np.ndarray, lengths: np.ndarray, ids) -> bytes:
    """Return the concatenated table bytes of a sequence of token ids (the byte frame sans BOS)."""
    ids = np.asarray(ids, dtype=np.int64)
    return b"".join(table[i, : lengths[i]].astype(np.uint8).tobytes() for i in ids)

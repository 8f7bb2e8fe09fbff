"""The token→bytes table rebuilds each text's UTF-8 bytes from its ids, for every tokenizer kind."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.unit.training.byte_branch.conftest import KINDS, MULTILINGUAL, SENTENCES
from tokattn.training.byte_branch import resolve_cross_layers, table_bytes, token_byte_table

TEXTS = [*SENTENCES, "  two  spaces\tand a tab\nand a newline", MULTILINGUAL]


def expected_frame(kind: str, text: str) -> bytes:
    """The bytes the table should give for `text`: what each kind keeps of it."""
    if kind in ("byte", "bytelevel_bpe"):
        return text.encode()
    if kind in ("char", "bpe", "unigram"):
        # Metaspace: spaces become '▁'; one '▁' is prepended unless the text starts with one.
        return text.encode() if text.startswith(" ") else b" " + text.encode()
    # WordPiece: the Whitespace pre-tokenizer drops all whitespace.
    return re.sub(r"\s+", "", text).encode()


@pytest.mark.parametrize("kind", KINDS)
def test_table_bytes_rebuild_text(tokenizers_by_kind, kind):
    tokenizer, folder = tokenizers_by_kind[kind]
    table, lengths = token_byte_table(folder)
    assert table.dtype == np.int16 and lengths.dtype == np.int16
    assert table.shape == (len(tokenizer), int(lengths.max()))
    assert (table[np.arange(table.shape[1])[None] >= lengths[:, None]] == -1).all()
    assert lengths[:4].tolist() == [0, 0, 0, 0]  # <s> </s> <pad> <unk>: no bytes
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == 0  # the post-processor's <s>
        if kind == "wordpiece":
            # <unk> carries no bytes: drop the characters each <unk> covers (offsets).
            enc = tokenizer(text, return_offsets_mapping=True)
            for i, (start, end) in reversed(list(zip(ids, enc["offset_mapping"], strict=True))):
                if i == tokenizer.unk_token_id:
                    text = text[:start] + text[end:]
        assert table_bytes(table, lengths, ids) == expected_frame(kind, text), (kind, text)


def test_table_from_tokenizer_object_and_padding(tokenizers_by_kind):
    tokenizer, folder = tokenizers_by_kind["bpe"]
    table, lengths = token_byte_table(tokenizer, vocab_size=len(tokenizer) + 7)
    ref, ref_lengths = token_byte_table(folder)
    assert table.shape[0] == len(tokenizer) + 7
    assert np.array_equal(table[: len(tokenizer)], ref)
    assert (lengths[len(tokenizer) :] == 0).all()
    # Byte-fallback pieces stand for their byte.
    fallback = tokenizer.convert_tokens_to_ids("<0xE6>")
    assert lengths[fallback] == 1 and table[fallback, 0] == 0xE6
    with pytest.raises(ValueError, match="smaller"):
        token_byte_table(tokenizer, vocab_size=10)


def test_resolve_cross_layers():
    assert resolve_cross_layers({"first_k": 1}, 4) == [0]
    assert resolve_cross_layers({"first_k": 3}, 4) == [0, 1, 2]
    assert resolve_cross_layers("all", 3) == [0, 1, 2]
    assert resolve_cross_layers([3, 1, 1], 4) == [1, 3]
    for bad in ({"first_k": 0}, {"first_k": 5}, [4], [], "some", {"k": 1}):
        with pytest.raises(ValueError, match="cross_layers"):
            resolve_cross_layers(bad, 4)

"""Tokenizer stage: every kind trains, reloads with AutoTokenizer, and maps tokens to exact bytes."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from tests.tiny_models import write_corpus_parquet
from tokattn.tokenizing.tokenization import (
    SPECIAL_TOKEN_LIST,
    SPECIAL_TOKENS,
    file_sha256,
    load_tokenizer,
    resolve_spec,
    token_byte_lengths,
    token_byte_spans,
    token_byte_spans_batch,
    token_byte_spans_from_offsets,
    tokenizer_metadata,
    train_tokenizer,
)

SENTENCES = [
    "All human beings are born free and equal in dignity and rights.",
    "They are endowed with reason and conscience and should act towards one another.",
    "Все люди рождаются свободными и равными в своем достоинстве и правах.",
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता प्राप्त है।",
    "人人生而自由,在尊严和权利上一律平等。他们赋有理性和良心。",
    "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
    "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.",
    "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ",
    "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다.",
    "Tous les êtres humains naissent libres et égaux en dignité et en droits.",
    "def train(x: int) -> list[str]:\n    return [str(i) for i in range(x)]  # 2024",
    "Great news 😀🎉 — the café opens at 09:30 on 12/05!",
]
# Not in the training text: these must go through byte fallback (or <unk> for WordPiece).
UNSEEN = "Ꙭ ꙮ 𓂀 🦩 ☃"
PROBES = [
    "Hello wörld, 日本語 and 😀 emoji; हिन्दी क्षत्रिय, ไทย, العربية.",
    "Tabs\tand  double spaces\nnew lines 12345 👩\u200d💻 🇯🇵",
    "Combining: e\u0301 a\u0308 and unseen " + UNSEEN,
    "人人生而自由。すべての人間は",
    "x",
]
KINDS = ["byte", "char", "bpe", "bytelevel_bpe", "unigram", "wordpiece"]
LOSSLESS = ["byte", "char", "bpe", "bytelevel_bpe", "unigram"]
VOCAB = {"char": 2000, "bpe": 700, "bytelevel_bpe": 600, "unigram": 700, "wordpiece": 600}


def _corpus_texts(n_docs: int = 240, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(SENTENCES, 4)) for _ in range(n_docs)]


@pytest.fixture(scope="module")
def train_parquet(tmp_path_factory):
    return write_corpus_parquet(
        tmp_path_factory.mktemp("corpus") / "train.parquet", _corpus_texts()
    )


@pytest.fixture(scope="module")
def trained(train_parquet, tmp_path_factory):
    """kind -> (tokenizer, folder) for every kind, trained once per module."""
    root = tmp_path_factory.mktemp("tokenizers")
    out = {}
    for kind in KINDS:
        spec = {"name": kind, "kind": kind}
        if kind in VOCAB:
            spec["vocab_size"] = VOCAB[kind]
        out[kind] = (train_tokenizer(spec, train_parquet, root / kind, seed=3), root / kind)
    return out


# ------------------------------------------------------------- independent references


def _gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's byte <-> symbol table from transformers, checked against tokenizers' ByteLevel."""
    try:
        from transformers.convert_slow_tokenizer import bytes_to_unicode
    except ImportError:  # older transformers
        from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode
    from tokenizers.pre_tokenizers import ByteLevel

    table = {symbol: byte for byte, symbol in bytes_to_unicode().items()}
    assert len(table) == 256
    pre = ByteLevel(add_prefix_space=False, use_regex=False)
    for cp in range(0x800):  # every byte valid UTF-8 can hold, as the pre-tokenizer maps it
        ch = chr(cp)
        symbols = "".join(piece for piece, _ in pre.pre_tokenize_str(ch))
        assert bytes(table[s] for s in symbols) == ch.encode("utf-8")
    return table


BYTE_DECODER = _gpt2_byte_decoder()


def _own_bytes(kind: str, token: str) -> bytes:
    """The bytes a vocabulary string stands for, derived per kind from the string alone."""
    if kind in ("byte", "bytelevel_bpe"):
        return bytes(BYTE_DECODER[c] for c in token)
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        return bytes([int(token[3:5], 16)])
    if kind == "wordpiece":
        return token.removeprefix("##").encode()
    return token.replace("\u2581", " ").encode()


def _expected(kind: str, text: str, tokens: list[str]) -> list[bytes]:
    out = [_own_bytes(kind, t) for t in tokens]
    # The metaspace pre-tokenizer prepends '▁' to text that does not start with a space.
    if kind in ("char", "bpe", "unigram") and out and not text.startswith(" "):
        assert out[0].startswith(b" ")
        out[0] = out[0][1:]
    return out


# ------------------------------------------------------------- training and loading


def test_every_kind_reloads_with_autotokenizer(trained):
    from transformers import AutoTokenizer

    for kind, (tok, folder) in trained.items():
        auto = AutoTokenizer.from_pretrained(str(folder))
        assert auto.is_fast, kind
        for text in PROBES:
            assert auto(text)["input_ids"] == tok(text)["input_ids"], kind
        config = json.loads((folder / "tokenizer_config.json").read_text())
        assert config["model_max_length"] >= 1 << 16
        assert "token_type_ids" not in auto("x")


def test_special_tokens_identical_across_kinds(trained):
    for kind, (tok, _) in trained.items():
        assert tok.convert_tokens_to_ids(SPECIAL_TOKEN_LIST) == [0, 1, 2, 3], kind
        assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == tuple(
            SPECIAL_TOKENS.values()
        )
        assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (
            0,
            1,
            2,
            3,
        )
        assert tok("x")["input_ids"][0] == tok.bos_token_id, kind
        assert tok("x", add_special_tokens=False)["input_ids"][0] != tok.bos_token_id, kind


def test_vocabulary_sizes(trained):
    assert len(trained["byte"][0]) == 260
    for kind in ("bpe", "bytelevel_bpe"):
        assert len(trained[kind][0]) == VOCAB[kind], kind
    for kind in ("unigram", "wordpiece"):  # 12 distinct sentences: fewer pieces
        assert VOCAB[kind] // 2 < len(trained[kind][0]) <= VOCAB[kind], kind
    n_chars = len(set("".join(SENTENCES)) - {" "})  # + '▁' for the spaces
    assert len(trained["char"][0]) == 260 + n_chars + 1
    for kind in ("char", "bpe", "unigram"):
        vocab = trained[kind][0].get_vocab()
        assert [vocab[f"<0x{b:02X}>"] for b in range(256)] == list(range(4, 260)), kind


def test_metadata_records_spec_seed_data_and_hash(trained, train_parquet):
    df = pd.read_parquet(train_parquet)
    for kind, (_, folder) in trained.items():
        meta = tokenizer_metadata(folder)
        assert meta["spec"] == resolve_spec(meta["spec"])
        assert meta["kind"] == kind and meta["seed"] == 3
        assert meta["tokenizer_sha256"] == file_sha256(folder / "tokenizer.json")
        if kind != "byte":
            assert meta["n_train_docs"] == len(df)
            assert meta["n_train_bytes"] == int(df["n_bytes"].sum())


WORDPIECE_TIES = pytest.mark.xfail(
    reason="WordPieceTrainer numbers '##' tokens in hash order, so merge ties differ "
    "between runs (huggingface/tokenizers#1794)",
    strict=False,
)


@pytest.mark.parametrize(
    "kind", ["bpe", "unigram", pytest.param("wordpiece", marks=WORDPIECE_TIES)]
)
def test_training_is_deterministic_and_seeded_sample_respects_budget(train_parquet, tmp_path, kind):
    # A small vocabulary caps the alphabet, so equally frequent characters must tie-break
    # the same way in every run.
    spec = {"name": "b", "kind": kind, "vocab_size": 400, "max_train_bytes": 20_000}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        train_tokenizer(spec, train_parquet, tmp_path / name, seed=seed)
    a, b, c = (tokenizer_metadata(tmp_path / name) for name in "abc")
    assert a["tokenizer_sha256"] == b["tokenizer_sha256"]
    assert 0 < a["n_train_bytes"] <= 20_000 and a["n_train_docs"] < 240
    assert a["alphabet_size"] < a["train_distinct_chars"]
    assert (c["n_train_docs"], c["n_train_bytes"]) != (a["n_train_docs"], a["n_train_bytes"]) or (
        c["tokenizer_sha256"] != a["tokenizer_sha256"]
    )


def test_save_is_atomic_and_keeps_other_files(train_parquet, tmp_path):
    out = tmp_path / "tok"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    train_tokenizer({"name": "c", "kind": "char", "vocab_size": 400}, train_parquet, out)
    assert (out / "metrics.json").read_text() == "{}"
    assert {"tokenizer.json", "tokenizer_config.json", "tokattn_tokenizer.json"} <= {
        p.name for p in out.iterdir()
    }
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no temp folder left behind


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        load_tokenizer(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tokenizer.json").write_text("{not json")
    (bad / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    with pytest.raises(ValueError, match=str(bad)):
        load_tokenizer(bad / "tokenizer.json")


def test_spec_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        resolve_spec({"name": "x", "kind": "bpe", "vocab_size": 200})
    with pytest.raises(ValueError, match="vocab_size is required"):
        resolve_spec({"name": "x", "kind": "unigram"})
    assert resolve_spec({"name": "x", "kind": "wordpiece", "vocab_size": 100})["pre_tokenizer"] == (
        "whitespace"
    )


def test_char_alphabet_covers_share_of_characters(tmp_path):
    # Counts as the model sees them: a 900, '▁' 101 (one prepended per document), b 90,
    # c 10, d 1 (total 1102). Coverage 0.95 (1046.9) needs a, '▁' and b (1091).
    texts = ["a" * 9] * 100 + ["b" * 90 + "c" * 10 + "d"]
    parquet = write_corpus_parquet(tmp_path / "t.parquet", texts)
    spec = {"name": "c", "kind": "char", "vocab_size": 400, "char_coverage": 0.95}
    tok = train_tokenizer(spec, parquet, tmp_path / "c")
    chars = set(tok.get_vocab()) - set(SPECIAL_TOKEN_LIST) - {f"<0x{b:02X}>" for b in range(256)}
    assert chars == {"a", "\u2581", "b"}
    assert tok.convert_ids_to_tokens(tok("ac", add_special_tokens=False)["input_ids"]) == [
        "\u2581",
        "a",
        "<0x63>",
    ]


def test_split_digits(tmp_path):
    parquet = write_corpus_parquet(tmp_path / "t.parquet", ["in 2024 and 1999, in 2024"] * 50)
    spec = {"name": "d", "kind": "bpe", "vocab_size": 300}
    plain = train_tokenizer(spec, parquet, tmp_path / "plain")
    split = train_tokenizer({**spec, "split_digits": True}, parquet, tmp_path / "split")
    text = "in 2024"
    assert plain.tokenize(text) == ["\u2581in", "\u25812024"]
    assert split.tokenize(text) == ["\u2581in", "\u2581", "2", "0", "2", "4"]
    assert [e - s for s, e in token_byte_spans(split, text)] == [2, 1, 1, 1, 1, 1]


# ------------------------------------------------------------- byte spans


@pytest.mark.parametrize("kind", KINDS)
def test_byte_spans_are_each_tokens_own_bytes(trained, kind):
    tok, _ = trained[kind]
    for text in PROBES:
        data = text.encode("utf-8")
        ids = tok(text, add_special_tokens=False)["input_ids"]
        tokens = tok.convert_ids_to_tokens(ids)
        spans = token_byte_spans(tok, text)
        assert len(spans) == len(tokens)
        assert all(0 <= s <= e <= len(data) for s, e in spans)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False)), (
            "ordered, no overlap"
        )
        expected = _expected(kind, text, tokens) if kind != "wordpiece" else None
        for i, ((s, e), token) in enumerate(zip(spans, tokens, strict=True)):
            if token == tok.unk_token:
                assert e > s and not data[s:e].isspace()
                continue
            own = expected[i] if expected else _own_bytes(kind, token)
            assert data[s:e] == own, (kind, text, i, token)
        if kind in LOSSLESS:
            # The spans tile the text: every byte belongs to exactly one token.
            assert spans[0][0] == 0 and spans[-1][1] == len(data)
            assert all(e1 == s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))
            assert b"".join(expected) == data
        else:
            covered = bytearray(len(data))
            for s, e in spans:
                covered[s:e] = b"\x01" * (e - s)
            gaps = bytes(b for b, c in zip(data, covered, strict=True) if not c)
            assert gaps.decode().isspace() or not gaps  # WordPiece drops only whitespace


@pytest.mark.parametrize("kind", ["char", "bpe", "unigram"])
def test_unseen_characters_fall_back_to_their_bytes(trained, kind):
    tok, _ = trained[kind]
    for ch in UNSEEN.split():
        ids = tok(ch, add_special_tokens=False)["input_ids"]
        tokens = [t for t in tok.convert_ids_to_tokens(ids) if t != "\u2581"]
        assert tokens == [f"<0x{b:02X}>" for b in ch.encode()], (kind, ch)
        assert tok.unk_token_id not in ids


@pytest.mark.parametrize("kind", LOSSLESS)
def test_round_trip(trained, kind):
    tok, _ = trained[kind]
    for text in PROBES:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == text, kind


@pytest.mark.parametrize("kind", KINDS)
def test_byte_lengths_and_batch_variants_agree_with_spans(trained, kind):
    tok, _ = trained[kind]
    batch = token_byte_spans_batch(tok, PROBES)
    for text, spans in zip(PROBES, batch, strict=True):
        assert spans == token_byte_spans(tok, text)
        lengths = [e - s for s, e in spans]
        assert token_byte_lengths(tok, text) == lengths
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if kind in LOSSLESS:
            assert token_byte_lengths(tok, ids) == lengths
            assert sum(token_byte_lengths(tok, ids)) == len(text.encode())
        enc = tok(text, return_offsets_mapping=True)  # with <s>: an empty span at 0
        with_bos = token_byte_spans_from_offsets(tok, text, enc["input_ids"], enc["offset_mapping"])
        assert with_bos == [(0, 0), *spans]

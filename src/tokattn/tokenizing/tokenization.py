"""Tokenizer stage: train HF `tokenizers` models on the train split, save and load them.

Every kind shares the same special tokens with the same ids (``<s>``=0, ``</s>``=1,
``<pad>``=2, ``<unk>``=3), so models and analyses can treat them alike. A trained
tokenizer is a folder that ``transformers.AutoTokenizer.from_pretrained`` opens; it
holds ``tokattn_tokenizer.json`` with the spec, seed, training data size and the
SHA-256 of ``tokenizer.json`` that later stages record.

Kinds (pre-tokenizer ``default`` in brackets):

- ``byte`` [bytelevel]: 256 GPT-2 byte symbols (id = 4 + byte value), no merges.
- ``char`` [metaspace]: the characters covering ``char_coverage`` of the train split,
  at most ``vocab_size`` - 260; other characters fall back to ``<0x00>``..``<0xFF>``.
- ``bpe`` [metaspace]: SentencePiece-style BPE with byte fallback.
- ``bytelevel_bpe`` [bytelevel]: GPT-2 style byte-level BPE.
- ``unigram`` [metaspace]: Unigram LM with byte fallback.
- ``wordpiece`` [whitespace]: cased BERT-style WordPiece (CJK ideographs split apart).

For the character-alphabet kinds (char, bpe, unigram, wordpiece) the alphabet is the
characters that cover ``char_coverage`` of the training characters, as SentencePiece
does, and at most half the learnable vocabulary (a quarter for WordPiece, which also
stores ``##`` forms), so that a multilingual corpus with thousands of rare characters
still leaves room for merges. Rarer characters become byte-fallback tokens (``<unk>``
for WordPiece). Byte-fallback kinds spend 256 ids on ``<0xNN>`` tokens (ids 4..259).

HF's Unigram matches byte pieces like any other piece, so they get a score far below
every learnt piece; a literal ``<0x41>`` in the text is still read as that byte when
one of its characters is outside the alphabet (the unknown-character path scores
lower still). Real text practically never contains it; round-trip fidelity would show it.

Training is reproducible: the same split, spec and seed give the same tokenizer.json,
except for WordPiece, whose trainer numbers its ``##`` tokens in hash order so that
merge ties can differ between runs (huggingface/tokenizers#1794); the SHA-256 in the
metadata tells later stages which tokenizer they used.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tokenizers
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from tokattn.common.byte_spans import (  # noqa: F401  (re-exported: the stage's public API)
    BYTE_ENCODER,
    TokenByteRules,
    byte_rules,
    token_byte_lengths,
    token_byte_spans,
    token_byte_spans_batch,
    token_byte_spans_from_offsets,
)
from tokattn.tokenizing.folder import (  # noqa: F401  (re-exported)
    DEFAULT_MODEL_MAX_LENGTH,
    METADATA_FILE,
    SPECIAL_TOKEN_LIST,
    SPECIAL_TOKENS,
    file_sha256,
    load_tokenizer,
    save_tokenizer,
    tokenizer_hash,
    tokenizer_metadata,
)
from tokattn.tokenizing.training_text import (
    TrainStats,
    char_counts,
    coverage_alphabet,
    select_docs,
    text_batches,
)

log = logging.getLogger(__name__)

UNK = SPECIAL_TOKENS["unk_token"]
BYTE_FALLBACK_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
KINDS = ("byte", "char", "bpe", "bytelevel_bpe", "unigram", "wordpiece")
DEFAULT_PRE_TOKENIZER = {
    "byte": "bytelevel",
    "bytelevel_bpe": "bytelevel",
    "char": "metaspace",
    "bpe": "metaspace",
    "unigram": "metaspace",
    "wordpiece": "whitespace",
}
SPEC_DEFAULTS = {
    "pre_tokenizer": "default",
    "split_digits": False,
    "char_coverage": 0.9995,
    "min_frequency": 2,
    "max_train_bytes": None,
}
WORDPIECE_PREFIX = "##"


def resolve_spec(spec: Mapping) -> dict:
    """Return `spec` with defaults filled and pre_tokenizer resolved; raise ValueError if unusable."""
    out = {**SPEC_DEFAULTS, **dict(spec)}
    name, kind = out.get("name", "<unnamed>"), out.get("kind")
    if kind not in KINDS:
        raise ValueError(f"tokenizer {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if out["pre_tokenizer"] == "default":
        out["pre_tokenizer"] = DEFAULT_PRE_TOKENIZER[kind]
    vocab_size = out.get("vocab_size")
    if kind in ("byte", "bytelevel_bpe") and out["pre_tokenizer"] != "bytelevel":
        raise ValueError(f"tokenizer {name!r}: kind {kind!r} needs pre_tokenizer bytelevel")
    if kind not in ("byte", "char") and vocab_size is None:
        raise ValueError(f"tokenizer {name!r}: vocab_size is required for kind {kind!r}")
    if _byte_fallback(out) and vocab_size is not None:
        fixed = len(SPECIAL_TOKEN_LIST) + len(BYTE_FALLBACK_TOKENS)
        if vocab_size <= fixed:
            raise ValueError(
                f"tokenizer {name!r}: vocab_size {vocab_size} must exceed {fixed} "
                f"(4 special + 256 byte-fallback tokens) for kind {kind!r}"
            )
    if not 0 < out["char_coverage"] <= 1:
        raise ValueError(f"tokenizer {name!r}: char_coverage must be in (0, 1]")
    return out


def _byte_fallback(spec: Mapping) -> bool:
    return spec["kind"] in ("char", "bpe", "unigram") and spec["pre_tokenizer"] != "bytelevel"


def _pre_tokenizer(spec: Mapping):
    base = {
        "metaspace": lambda: pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        "whitespace": pre_tokenizers.Whitespace,
        "bytelevel": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "none": lambda: None,
    }[spec["pre_tokenizer"]]()
    if not spec["split_digits"] or spec["kind"] == "byte":
        return base
    digits = pre_tokenizers.Digits(individual_digits=True)
    # Metaspace first: it must see the whole text to prepend '▁' only once.
    return digits if base is None else pre_tokenizers.Sequence([base, digits])


def _decoder(spec: Mapping):
    if spec["pre_tokenizer"] == "bytelevel":
        return decoders.ByteLevel()
    parts = []
    if _byte_fallback(spec):
        parts.append(decoders.ByteFallback())
    if spec["kind"] == "wordpiece":
        parts.append(decoders.WordPiece(prefix=WORDPIECE_PREFIX, cleanup=False))
    if spec["pre_tokenizer"] == "metaspace":
        # Per token, not after Fuse: on the first token it drops every '▁', not only the
        # leading one (tokens never hold an inner '▁' because Metaspace splits there).
        parts.append(decoders.Metaspace(replacement="▁", prepend_scheme="always"))
    return decoders.Sequence(parts or [decoders.Fuse()])


def _pipeline(tok: Tokenizer, spec: Mapping) -> Tokenizer:
    """Attach normalizer, pre-tokenizer and decoder (the trainer uses the first two)."""
    if spec["kind"] == "wordpiece":
        # BERT-style: split CJK ideographs into their own words; keep case and accents.
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False
        )
    pre = _pre_tokenizer(spec)
    if pre is not None:
        tok.pre_tokenizer = pre
    tok.decoder = _decoder(spec)
    return tok


def _finish(tok: Tokenizer, spec: Mapping) -> Tokenizer:
    """Attach the pipeline and BOS post-processor; register the special tokens as ids 0..3."""
    _pipeline(tok, spec)
    tok.add_special_tokens(SPECIAL_TOKEN_LIST)
    # A leading <s> lets a causal LM predict (and bits-per-byte count) the first token.
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 0)]
    )
    for i, t in enumerate(SPECIAL_TOKEN_LIST):
        if tok.token_to_id(t) != i:
            raise RuntimeError(f"special token {t!r} got id {tok.token_to_id(t)}, expected {i}")
    return tok


def _alphabet_cap(spec: Mapping) -> int | None:
    vocab_size = spec.get("vocab_size")
    if vocab_size is None:
        return None
    budget = vocab_size - len(SPECIAL_TOKEN_LIST)
    if _byte_fallback(spec):
        budget -= len(BYTE_FALLBACK_TOKENS)
    return max(1, {"char": budget, "wordpiece": budget // 4}.get(spec["kind"], budget // 2))


# ---------------------------------------------------------------- models


def _byte_tokenizer() -> Tokenizer:
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKEN_LIST)}
    vocab.update({BYTE_ENCODER[b]: len(SPECIAL_TOKEN_LIST) + b for b in range(256)})
    return Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))


def _fallback_vocab(chars: list[str]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for t in [*SPECIAL_TOKEN_LIST, *BYTE_FALLBACK_TOKENS, *chars]:
        vocab.setdefault(t, len(vocab))
    return vocab


def _char_tokenizer(chars: list[str]) -> Tokenizer:
    vocab = _fallback_vocab(chars)
    return Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, byte_fallback=True))


def _with_byte_tokens(tok: Tokenizer) -> Tokenizer:
    """Insert <0x00>..<0xFF> at ids 4..259 of a trained BPE/Unigram model, enable byte fallback."""
    spec = json.loads(tok.to_str())
    model = spec["model"]
    if model["type"] == "BPE":
        trained = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        model["vocab"] = _fallback_vocab([t for t, _ in trained if t not in SPECIAL_TOKEN_LIST])
    elif model["type"] == "Unigram":
        pieces = model["vocab"]
        reserved = {*SPECIAL_TOKEN_LIST, *BYTE_FALLBACK_TOKENS}
        # Scores carry float noise from parallel EM (~1e-15) and equal scores come out
        # in hash order: order by rounded score, then piece, so ids are reproducible.
        trained = sorted(
            ([p, round(score, 10)] for p, score in pieces if p not in reserved),
            key=lambda ps: (-ps[1], ps[0]),
        )
        # Byte pieces are only reached through byte fallback; a score far below every
        # trained piece keeps the lattice from choosing them for a literal "<0x41>".
        floor = min((s for _, s in trained), default=0.0) - 1000.0
        specials = [[t, 0.0] for t in SPECIAL_TOKEN_LIST]
        model["vocab"] = specials + [[b, floor] for b in BYTE_FALLBACK_TOKENS] + trained
        model["unk_id"] = SPECIAL_TOKEN_LIST.index(UNK)
    else:
        raise TypeError(f"byte fallback is not supported for {model['type']} models")
    model["byte_fallback"] = True
    for added in spec["added_tokens"]:
        added["id"] = SPECIAL_TOKEN_LIST.index(added["content"])
    return Tokenizer.from_str(json.dumps(spec))


def _trained_tokenizer(spec: Mapping, batches, alphabet: list[str] | None) -> Tokenizer:
    kind, bytelevel = spec["kind"], spec["pre_tokenizer"] == "bytelevel"
    n_fixed = len(SPECIAL_TOKEN_LIST) + (len(BYTE_FALLBACK_TOKENS) if _byte_fallback(spec) else 0)
    common = {
        "vocab_size": spec["vocab_size"] - n_fixed + len(SPECIAL_TOKEN_LIST),
        "special_tokens": SPECIAL_TOKEN_LIST,
        "show_progress": False,
    }
    alphabet_args = {"initial_alphabet": pre_tokenizers.ByteLevel.alphabet()} if bytelevel else {}
    if alphabet is not None:
        alphabet_args = {"initial_alphabet": alphabet, "limit_alphabet": len(alphabet)}
    if kind in ("bpe", "bytelevel_bpe"):
        tok = Tokenizer(models.BPE(unk_token=UNK, byte_fallback=_byte_fallback(spec)))
        trainer = trainers.BpeTrainer(
            min_frequency=spec["min_frequency"], **alphabet_args, **common
        )
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix=WORDPIECE_PREFIX))
        trainer = trainers.WordPieceTrainer(
            min_frequency=spec["min_frequency"],
            continuing_subword_prefix=WORDPIECE_PREFIX,
            **alphabet_args,
            **common,
        )
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(unk_token=UNK, **alphabet_args, **common)
    else:
        raise ValueError(f"kind {kind!r} is not trained")
    _pipeline(tok, spec)  # the trainer normalises and pre-tokenizes with the final pipeline
    tok.train_from_iterator(batches, trainer)
    return _finish(_with_byte_tokens(tok) if _byte_fallback(spec) else tok, spec)


def _build(spec: Mapping, train_parquet: Path, mask) -> tuple[Tokenizer, TrainStats, dict]:
    """Return the finished tokenizer, the training-data counts and alphabet facts."""
    kind, stats = spec["kind"], TrainStats()
    if kind == "byte" or (kind == "char" and spec["pre_tokenizer"] == "bytelevel"):
        return _finish(_byte_tokenizer(), spec), stats, {"alphabet_size": 256}
    if spec["pre_tokenizer"] == "bytelevel":
        tok = _trained_tokenizer(spec, text_batches(train_parquet, mask, stats), None)
        _check_text(stats, train_parquet, spec)
        return tok, stats, {"alphabet_size": 256}
    counts = char_counts(text_batches(train_parquet, mask, stats), spec["pre_tokenizer"])
    _check_text(stats, train_parquet, spec)
    chars, trainer_alphabet, rare = alphabet_plan(spec, counts)
    info = {
        "alphabet_size": len(chars),
        "train_distinct_chars": int(np.count_nonzero(counts)),
        "char_coverage_achieved": float(counts[[ord(c) for c in chars]].sum() / counts.sum()),
    }
    if kind == "char":
        return _finish(_char_tokenizer(chars), spec), stats, info
    batches = text_batches(train_parquet, mask)
    if rare:
        batches = ([t.translate(rare) for t in texts] for texts in batches)
    return _trained_tokenizer(spec, batches, trainer_alphabet), stats, info


def _check_text(stats: TrainStats, train_parquet: Path, spec: Mapping) -> None:
    if stats.n_docs == 0 or stats.n_bytes == 0:
        raise ValueError(f"{train_parquet}: no training text for tokenizer {spec.get('name')!r}")


def alphabet_plan(
    spec: Mapping, counts: np.ndarray
) -> tuple[list[str], list[str] | None, dict | None]:
    """Return the alphabet, the alphabet to impose on a BPE/WordPiece trainer, and a
    str.translate table for unigram training text (None where nothing is dropped).

    Given only `limit_alphabet`, the BPE trainer breaks ties between equally frequent
    characters in hash order, so runs differ; it is given the alphabet itself instead.
    The unigram trainer keeps every character it sees, so for it the rarer characters
    become a space (a word break) in the training text; at encoding time they fall
    back to bytes.
    """
    chars = coverage_alphabet(counts, spec["char_coverage"], _alphabet_cap(spec))
    n_seen = int(np.count_nonzero(counts))
    if len(chars) >= n_seen or spec["kind"] == "char":
        return chars, None, None
    if spec["kind"] != "unigram":
        return chars, chars, None
    rare = set(map(chr, np.flatnonzero(counts))) - set(chars) - {"▁"}
    return chars, None, str.maketrans(dict.fromkeys(rare, " "))


def train_tokenizer(spec: Mapping, train_parquet: str | Path, out_dir: str | Path, seed: int = 0):
    """Train the tokenizer `spec` on the train split, save it to `out_dir`, return it loaded."""
    import transformers

    t0 = time.perf_counter()
    spec = resolve_spec(spec)
    train_parquet = Path(train_parquet)
    needs_data = spec["kind"] != "byte" and not (
        spec["kind"] == "char" and spec["pre_tokenizer"] == "bytelevel"
    )
    if needs_data and not train_parquet.is_file():
        raise FileNotFoundError(f"training split {train_parquet} not found (run the corpus stage)")
    mask = select_docs(train_parquet, spec["max_train_bytes"], seed) if needs_data else None
    tok, stats, alphabet_info = _build(spec, train_parquet, mask)
    metadata = {
        "format_version": 1,
        "name": spec.get("name"),
        "kind": spec["kind"],
        "spec": spec,
        "seed": seed,
        "train_parquet": str(train_parquet) if needs_data else None,
        "n_train_docs": stats.n_docs,
        "n_train_bytes": stats.n_bytes,
        **alphabet_info,
        "byte_fallback": _byte_fallback(spec),
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKEN_LIST)},
        "tokenizers_version": tokenizers.__version__,
        "transformers_version": transformers.__version__,
        "train_seconds": round(time.perf_counter() - t0, 3),
    }
    save_tokenizer(tok, out_dir, metadata)
    log.info(
        "tokenizer %s (%s): %d tokens from %d documents, %d bytes, in %.1f s -> %s",
        metadata["name"],
        spec["kind"],
        metadata["vocab_size"],
        stats.n_docs,
        stats.n_bytes,
        metadata["train_seconds"],
        out_dir,
    )
    return load_tokenizer(out_dir)

"""UTF-8 byte span of every token, for any Hugging Face fast tokenizer.

Budgets, bits-per-byte and attention maps are compared across tokenizers in bytes, so
each token needs the exact bytes of the text it stands for. HF reports character
offsets, and several tokens can share one character: byte-fallback tokens
(``<0xE6><0x97><0xA5>`` for 日) and byte-level pieces of one multi-byte character (GPT-2
style ``æĹ`` + ``¥``). The span of a token is therefore found from the token's *own*
bytes, derived from its vocabulary string, placed at the first free byte of its
character span:

- byte-level tokens: the GPT-2 byte decoder of each symbol;
- ``<0xNN>`` byte-fallback tokens: that byte;
- metaspace tokens: the string with ``▁`` read as a space; a leading ``▁`` that the
  pre-tokenizer prepended (not in the text) gets no bytes;
- WordPiece continuation tokens: the string without ``##``;
- unknown and special tokens: the bytes their character offsets cover (empty for
  tokens the post-processor added).

Where a token's own bytes are not found verbatim at that place (a normaliser changed
the text, e.g. lowercasing), the span falls back to the character offsets. Spans are
ordered and never overlap.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def gpt2_bytes_to_unicode() -> dict[int, str]:
    """Return the GPT-2 byte → printable symbol table used by ByteLevel pre-tokenizers."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


BYTE_ENCODER = gpt2_bytes_to_unicode()
BYTE_DECODER = {c: b for b, c in BYTE_ENCODER.items()}


def _walk(component) -> list[dict]:
    """Flatten a normalizer/pre-tokenizer/decoder JSON tree into its leaf components."""
    if not isinstance(component, dict):
        return []
    out = [component]
    for key in ("normalizers", "pretokenizers", "decoders", "processors"):
        for child in component.get(key) or []:
            out.extend(_walk(child))
    return out


@dataclass
class TokenByteRules:
    """How a tokenizer's vocabulary strings map to UTF-8 bytes (read from tokenizer.json)."""

    byte_level: bool
    byte_fallback: bool
    metaspace: str | None  # replacement symbol for a space, e.g. '▁'
    metaspace_prepends: bool  # the pre-tokenizer adds a leading replacement the text lacks
    continuing_prefix: str | None  # e.g. '##' for WordPiece
    unk_token: str | None
    special_tokens: frozenset[str]
    vocab: dict[int, str] = field(repr=False)
    _id_lengths: np.ndarray | None = field(default=None, repr=False)
    _bytes_cache: dict[str, bytes | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> TokenByteRules:
        """Return the rules of a transformers fast tokenizer or a `tokenizers.Tokenizer`."""
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        spec = json.loads(backend.to_str())
        model = spec["model"]
        parts = [
            *_walk(spec.get("normalizer")),
            *_walk(spec.get("pre_tokenizer")),
            *_walk(spec.get("decoder")),
        ]
        types = {p.get("type") for p in parts}
        metaspace, prepends = None, False
        for p in parts:
            if p.get("type") == "Metaspace":
                metaspace = p.get("replacement", "▁")
                scheme = p.get("prepend_scheme", "always" if p.get("add_prefix_space") else "never")
                prepends = prepends or scheme != "never"
            elif p.get("type") == "Replace" and p.get("content") == "▁":
                metaspace = "▁"  # Llama-style normalizer: Replace(' ', '▁')
            elif p.get("type") == "Prepend" and p.get("prepend") == "▁":
                prepends = True
        unk = model.get("unk_token")
        if model.get("type") == "Unigram" and model.get("unk_id") is not None:
            unk = model["vocab"][model["unk_id"]][0]
        specials = frozenset(t["content"] for t in spec.get("added_tokens", []) if t["special"])
        vocab = {i: t for t, i in backend.get_vocab(with_added_tokens=True).items()}
        return cls(
            byte_level="ByteLevel" in types,
            byte_fallback=bool(model.get("byte_fallback")),
            metaspace=metaspace,
            metaspace_prepends=prepends,
            continuing_prefix=model.get("continuing_subword_prefix"),
            unk_token=unk,
            special_tokens=specials,
            vocab=vocab,
        )

    def token_bytes(self, token: str) -> bytes | None:
        """Return the UTF-8 bytes a token stands for; None for special and unknown tokens."""
        try:
            return self._bytes_cache[token]
        except KeyError:
            own = self._bytes_cache[token] = self._token_bytes(token)
            return own

    def _token_bytes(self, token: str) -> bytes | None:
        # Byte pieces first: a byte-fallback vocabulary may also list them as special
        # tokens (to keep merges off them), yet each stands for its one byte.
        if self.byte_fallback and (m := _BYTE_TOKEN.fullmatch(token)):
            return bytes([int(m.group(1), 16)])
        if token in self.special_tokens or token == self.unk_token:
            return None
        if self.continuing_prefix and token.startswith(self.continuing_prefix):
            token = token[len(self.continuing_prefix) :]
        if self.byte_level:
            try:
                return bytes(BYTE_DECODER[c] for c in token)
            except KeyError:
                pass  # an added token outside the byte alphabet: plain text
        if self.metaspace:
            token = token.replace(self.metaspace, " ")
        return token.encode("utf-8")

    def id_byte_lengths(self) -> np.ndarray:
        """Return the own-byte count of every token id (0 for special, unknown, unused ids)."""
        if self._id_lengths is None:
            lengths = np.zeros(max(self.vocab, default=-1) + 1, dtype=np.int64)
            for i, tok in self.vocab.items():
                own = self.token_bytes(tok)
                lengths[i] = 0 if own is None else len(own)
            self._id_lengths = lengths
        return self._id_lengths


_RULES_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def byte_rules(tokenizer) -> TokenByteRules:
    """Return (cached per tokenizer object) the TokenByteRules of `tokenizer`."""
    if isinstance(tokenizer, TokenByteRules):
        return tokenizer
    try:
        rules = _RULES_CACHE.get(tokenizer)
    except TypeError:  # not weak-referenceable
        return TokenByteRules.from_tokenizer(tokenizer)
    if rules is None:
        rules = TokenByteRules.from_tokenizer(tokenizer)
        _RULES_CACHE[tokenizer] = rules
    return rules


def char_to_byte_offsets(text: str) -> np.ndarray:
    """Return an array c2b of length len(text)+1: c2b[i] is the UTF-8 byte offset of char i."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    lengths = 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)
    c2b = np.zeros(len(cps) + 1, dtype=np.int64)
    np.cumsum(lengths, out=c2b[1:])
    return c2b


def token_byte_spans_from_offsets(
    tokenizer, text: str, tokens: Sequence[int] | Sequence[str], offsets: Sequence[tuple]
) -> list[tuple[int, int]]:
    """Return the UTF-8 byte span of each token, given its ids (or strings) and char offsets.

    Use with a `BatchEncoding` made with ``return_offsets_mapping=True``:
    ``token_byte_spans_from_offsets(tok, text, enc["input_ids"], enc["offset_mapping"])``.
    """
    rules = byte_rules(tokenizer)
    if len(tokens) != len(offsets):
        raise ValueError(f"{len(tokens)} tokens but {len(offsets)} offsets")
    if len(tokens) and not isinstance(tokens[0], str):
        tokens = [rules.vocab[int(t)] for t in tokens]
    data = text.encode("utf-8", "surrogatepass")
    c2b = None if len(data) == len(text) else char_to_byte_offsets(text).tolist()
    cache, token_bytes = rules._bytes_cache, rules.token_bytes  # hot loop: local names
    spans: list[tuple[int, int]] = []
    cursor = 0
    for tok, (cs, ce) in zip(tokens, offsets, strict=True):
        if c2b is None:
            bs, be = cs, ce
        else:
            bs, be = c2b[cs], c2b[ce]
        # Tokens that share a character (bytes of one char) start where the previous ended.
        start = bs if bs > cursor else cursor
        own = cache[tok] if tok in cache else token_bytes(tok)
        if own is None:
            end = be if be > start else start
        elif data.startswith(own, start):
            end = start + len(own)
        elif own[:1] == b" " and data.startswith(own[1:], start):
            end = start + len(own) - 1  # a prepended metaspace/prefix space not in the text
        else:
            end = be if be > start else start  # normalised text: trust the offsets
        spans.append((start, end))
        cursor = end
    return spans


def token_byte_spans(
    tokenizer, text: str, add_special_tokens: bool = False
) -> list[tuple[int, int]]:
    """Return the UTF-8 byte span (start, end) of every token of ``tokenizer(text)``."""
    return token_byte_spans_batch(tokenizer, [text], add_special_tokens)[0]


def token_byte_spans_batch(
    tokenizer, texts: Sequence[str], add_special_tokens: bool = False
) -> list[list[tuple[int, int]]]:
    """Return the byte spans of every token of every text, encoding the texts in one batch."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    encodings = backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
    return [
        token_byte_spans_from_offsets(tokenizer, text, enc.tokens, enc.offsets)
        for text, enc in zip(texts, encodings, strict=True)
    ]


def token_byte_lengths(tokenizer, ids_or_text: str | Sequence[int]) -> list[int]:
    """Return the UTF-8 byte count each token contributes.

    Given text, these are the lengths of `token_byte_spans` (exact, unknown tokens
    included). Given ids, they come from the vocabulary strings: special and unknown
    tokens count 0 bytes, and a leading metaspace on the first token counts 0 bytes, as
    the decoder drops it.
    """
    if isinstance(ids_or_text, str):
        return [e - s for s, e in token_byte_spans(tokenizer, ids_or_text)]
    rules = byte_rules(tokenizer)
    table = rules.id_byte_lengths()
    ids = np.asarray(ids_or_text, dtype=np.int64)
    lengths = table[ids].tolist()
    if rules.metaspace and rules.metaspace_prepends:
        for k, i in enumerate(ids.tolist()):
            tok = rules.vocab[i]
            if tok in rules.special_tokens:
                continue
            if tok.startswith(rules.metaspace) and lengths[k] > 0:
                lengths[k] -= 1
            break
    return lengths

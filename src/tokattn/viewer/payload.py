"""Turn AttentionRecords into the compact JSON payload the viewer page decodes.

Everything the page draws comes from here, read only through `AttentionRecord`:

- attention: the packed lower triangle `[layer, head, packed]` quantised to uint8
  (``round(w * 255)``, so a decoded weight is within 0.5/255 of the stored float16),
  zlib-deflated and base64-encoded; the page inflates it with the browser's own
  `DecompressionStream`. Weights below 0.5/255 become 0, which is what makes long,
  diffuse maps compress.
- received attention per (layer, key), mean over heads and queries, scaled to the
  layer's maximum (the points between layers before anything is selected);
- the logit lens top-1 token per (layer, position) as an index into a string table,
  and its probability as uint8;
- the iterative lens (when the store has one): step j's winner per (layer, position, j)
  and its probability *under the j-th re-decoded distribution* (after j winners'
  directions were removed), not under the original one, as uint8;
- the word frame: byte spans of the words of the text (`tokattn.attention.projection.unit_spans`)
  and, per token, the first and last word its bytes overlap, so several models line up
  on the same text;
- cross-attention maps of byte-branch arms (optional record fields `cross_layers`,
  `byte_ids`, `cross_attention` [n_cross, head, pos, byte_pos]), quantised the same way.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tokattn.attention.projection import projection_matrices, unit_spans

LEVELS = 255  # uint8 quantisation: weight w is stored as round(w * LEVELS)
TokenDecoder = Callable[[int], str]


def quantise_unit(values: np.ndarray) -> np.ndarray:
    """Return values in [0, 1] as uint8 round(v * 255), clipped."""
    scaled = np.rint(np.asarray(values, dtype=np.float32) * LEVELS)
    return np.clip(scaled, 0, LEVELS).astype(np.uint8)


def pack_bytes(data: np.ndarray, compress: bool = True) -> str:
    """Return base64 text of an array's bytes, zlib-deflated when `compress`."""
    raw = np.ascontiguousarray(data).tobytes()
    return base64.b64encode(zlib.compress(raw, 6) if compress else raw).decode("ascii")


def unpack_bytes(text: str, compress: bool = True) -> np.ndarray:
    """Return the uint8 array that `pack_bytes` encoded (the page's decoder, in Python)."""
    raw = base64.b64decode(text)
    return np.frombuffer(zlib.decompress(raw) if compress else raw, dtype=np.uint8)


def token_label(text_bytes: bytes, span: tuple[int, int], fallback: str) -> str:
    """Return the text a token stands for, shown in its block (hex for partial UTF-8)."""
    start, end = int(span[0]), int(span[1])
    if end <= start:
        return fallback  # BOS and other span-less specials
    piece = text_bytes[start:end]
    try:
        label = piece.decode("utf-8")
    except UnicodeDecodeError:
        # Part of a multi-byte character: decode what is whole, show the rest as hex.
        label = piece.decode("utf-8", errors="backslashreplace")
    return label.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def token_words(byte_spans: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Return [pos, 2] first and last word index each token's bytes overlap (-1 if none)."""
    query, _ = projection_matrices(byte_spans, words)  # [word, token] membership
    member = query.T > 0  # [token, word]
    out = np.full((member.shape[0], 2), -1, dtype=np.int64)
    has = member.any(axis=1)
    out[has, 0] = member[has].argmax(axis=1)
    out[has, 1] = member.shape[1] - 1 - member[has, ::-1].argmax(axis=1)
    return out


def received_attention(record) -> np.ndarray:
    """Return [layer, pos] mean over heads and visible queries of the attention to each key."""
    n = record.n_tokens
    visible = np.arange(n, 0, -1, dtype=np.float32)  # queries q >= k see key k
    out = np.zeros((record.n_layers, n), dtype=np.float32)
    for layer in range(record.n_layers):
        maps = record.attention_maps(layer)  # [head, q, k]
        out[layer] = maps.sum(axis=1).mean(axis=0) / visible
    peak = out.max(axis=1, keepdims=True)
    return np.divide(out, peak, out=np.zeros_like(out), where=peak > 0)


def _lens_top1(record, decode: TokenDecoder | None) -> tuple[list[int], list[str], str]:
    ids = np.asarray(record.lens_ids)[..., 0]  # [layer, pos]
    probs = np.asarray(record.lens_probs, dtype=np.float32)[..., 0]  # [layer, pos]
    table: dict[int, int] = {}
    for token_id in np.unique(ids):
        table[int(token_id)] = len(table)
    strings = [_lens_string(token_id, decode) for token_id in table]
    index = [table[int(i)] for i in ids.reshape(-1)]
    return index, strings, pack_bytes(quantise_unit(probs), compress=False)


def _iter_lens(record, decode: TokenDecoder | None) -> dict | None:
    ids = getattr(record, "iter_lens_ids", None)
    if ids is None:
        return None
    ids = np.asarray(ids)  # [layer, pos, k']
    probs = np.asarray(record.iter_lens_probs, dtype=np.float32)
    table = {int(t): i for i, t in enumerate(np.unique(ids))}
    return {
        "k": int(ids.shape[-1]),
        "index": [table[int(i)] for i in ids.reshape(-1)],  # [layer * pos * k']
        "strings": [_lens_string(t, decode) for t in table],
        "probs": pack_bytes(quantise_unit(probs), compress=False),  # uint8 [layer, pos, k']
    }


def _lens_string(token_id: int, decode: TokenDecoder | None) -> str:
    if decode is None:
        return f"#{token_id}"
    try:
        text = decode(token_id)
    except Exception:  # noqa: BLE001  (an id the tokenizer does not know: show the id)
        text = ""
    return text.replace(" ", "␣").replace("\n", "↵") if text else f"#{token_id}"


def _cross_payload(record) -> dict | None:
    cross = getattr(record, "cross_attention", None)
    if cross is None:
        return None
    cross = np.asarray(cross, dtype=np.float32)  # [n_cross, head, pos, byte_pos]
    byte_ids = getattr(record, "byte_ids", None)
    byte_ids = np.zeros(cross.shape[-1], np.int64) if byte_ids is None else byte_ids
    layers = getattr(record, "cross_layers", None)
    layers = range(cross.shape[0]) if layers is None else layers
    # The byte frame may start with special bytes (BOS = 256); the page puts those in the
    # BOS slot and the rest under the text's bytes.
    return {
        "layers": [int(i) for i in layers],
        "n_heads": int(cross.shape[1]),
        "n_bytes": int(cross.shape[-1]),
        "byte_labels": [_byte_label(int(b)) for b in np.asarray(byte_ids)],
        "data": pack_bytes(quantise_unit(cross)),
    }


def _byte_label(byte: int) -> str:
    if byte == 0x20:
        return "␣"
    if 0x21 <= byte < 0x7F:
        return chr(byte)
    return f"{byte:02x}" if byte < 256 else "BOS"


def model_payload(record, name: str, decode: TokenDecoder | None = None) -> dict:
    """Return the JSON-ready payload of one model's record of a probe."""
    if record.attention is None:
        raise ValueError(f"probe {record.probe_id}: record was read without attention")
    text_bytes = record.text.encode("utf-8")
    spans = np.asarray(record.byte_spans, dtype=np.int64).reshape(-1, 2)
    words = unit_spans(record.text, "word")
    lens_index, lens_strings, lens_probs = _lens_top1(record, decode)
    return {
        "name": name,
        "n_layers": record.n_layers,
        "n_heads": record.n_heads,
        "n_tokens": record.n_tokens,
        "labels": [
            token_label(text_bytes, span, str(s))
            for span, s in zip(spans, record.token_strings, strict=True)
        ],
        "spans": spans.reshape(-1).tolist(),
        "token_words": token_words(spans, words).reshape(-1).tolist(),
        "attention": pack_bytes(quantise_unit(record.attention)),  # [layer, head, packed]
        "received": pack_bytes(quantise_unit(received_attention(record)), compress=False),
        "lens_index": lens_index,  # [layer * pos] into lens_strings
        "lens_strings": lens_strings,
        "lens_probs": lens_probs,  # uint8 [layer, pos]
        "iter_lens": _iter_lens(record, decode),
        "cross": _cross_payload(record),
    }


def probe_payload(records: list[tuple[str, object]], decoders=None) -> dict:
    """Return the payload of one probe seen by several models: text, words, one entry per model."""
    if not records:
        raise ValueError("probe_payload needs at least one record")
    first = records[0][1]
    decoders = decoders or [None] * len(records)
    for name, record in records[1:]:
        if record.text != first.text:
            raise ValueError(
                f"probe {first.probe_id}: model {name} has a different text; "
                "comparison needs the same probe set"
            )
    return {
        "id": first.probe_id,
        "text": first.text,
        "language": first.language,
        "domain": first.domain,
        "kind": first.kind,
        "n_bytes": len(first.text.encode("utf-8")),
        "words": unit_spans(first.text, "word").reshape(-1).tolist(),
        "models": [
            model_payload(record, name, decode)
            for (name, record), decode in zip(records, decoders, strict=True)
        ],
    }


def token_decoder(folder: str | Path | None) -> TokenDecoder | None:
    """Return id → display string from a folder's tokenizer.json, or None if there is none."""
    if folder is None:
        return None
    path = Path(folder)
    path = path if path.name == "tokenizer.json" else path / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    from tokattn.common.byte_spans import gpt2_bytes_to_unicode

    tokenizer = Tokenizer.from_file(str(path))
    byte_of = {symbol: byte for byte, symbol in gpt2_bytes_to_unicode().items()}

    def decode(token_id: int) -> str:
        text = tokenizer.decode([token_id], skip_special_tokens=False)
        if text and "\ufffd" not in text:
            return text
        # A piece of a multi-byte character: show its bytes (byte-level symbols) as hex.
        piece = tokenizer.id_to_token(token_id) or ""
        if piece and all(c in byte_of for c in piece):
            raw = bytes(byte_of[c] for c in piece)
            return raw.decode("utf-8", errors="backslashreplace")
        return piece

    return decode

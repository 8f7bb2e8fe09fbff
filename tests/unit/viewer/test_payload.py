"""The viewer payload decodes back to what the attention store holds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.viewer.stores import cross_record, synthetic_record
from tokattn.attention.lower_triangle import unpack_lower
from tokattn.attention.projection import unit_spans
from tokattn.attention.store import AttentionStore
from tokattn.viewer.payload import (
    model_payload,
    probe_payload,
    token_decoder,
    token_label,
    unpack_bytes,
)

QUANTUM = 1 / 255


def _records(path):
    with AttentionStore(path) as store:
        return [store.record(p) for p in store.probe_ids], dict(store.attrs)


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_quantised_attention_decodes_to_the_record(tiny_stores, kind):
    records, _ = _records(tiny_stores[kind])
    for record in records:
        payload = model_payload(record, kind)
        n, n_layers, n_heads = record.n_tokens, record.n_layers, record.n_heads
        packed = unpack_bytes(payload["attention"]).reshape(n_layers, n_heads, -1) / 255.0
        for layer in range(n_layers):
            for head in range(n_heads):
                decoded = unpack_lower(packed[layer, head], n)
                expected = record.attention_map(layer, head)
                assert np.abs(decoded - expected).max() <= QUANTUM
        assert payload["n_tokens"] == n and len(payload["labels"]) == n
        assert payload["spans"] == record.byte_spans.reshape(-1).tolist()


def test_received_attention_is_the_mean_over_heads_and_queries(medium_store):
    record = _records(medium_store)[0][0]
    payload = model_payload(record, "m")
    received = unpack_bytes(payload["received"], compress=False).reshape(record.n_layers, -1)
    for layer in range(record.n_layers):
        maps = record.attention_maps(layer)  # [head, q, k]
        expected = np.array(
            [maps[:, k:, k].mean() for k in range(record.n_tokens)]  # queries that see k
        )
        expected /= expected.max()
        assert np.abs(received[layer] / 255.0 - expected).max() <= QUANTUM


def test_logit_lens_top1_strings_and_probabilities(tiny_stores):
    records, attrs = _records(tiny_stores["bpe"])
    decode = token_decoder(attrs["model_path"])
    assert decode is not None  # found through the store's model_path
    record = records[0]
    payload = model_payload(record, "bpe", decode)
    ids = record.lens_ids[..., 0].reshape(-1)
    strings = [payload["lens_strings"][i] for i in payload["lens_index"]]
    assert strings == [decode(int(i)).replace(" ", "␣").replace("\n", "↵") or f"#{i}" for i in ids]
    probs = unpack_bytes(payload["lens_probs"], compress=False) / 255.0
    assert np.abs(probs - record.lens_probs[..., 0].reshape(-1)).max() <= QUANTUM
    # Without a tokenizer the ids are shown.
    bare = model_payload(record, "bpe", None)
    assert {bare["lens_strings"][i] for i in bare["lens_index"]} == {f"#{i}" for i in set(ids)}


def test_byte_level_lens_pieces_show_bytes(tiny_stores):
    _, attrs = _records(tiny_stores["byte"])
    decode = token_decoder(attrs["model_path"])
    # In the tiny byte tokenizer id 4 + b is byte b; 0xC3 alone is half a character.
    assert decode(4 + 0xC3) == "\\xc3"
    assert decode(4 + ord("a")) == "a"


def test_word_frame_on_multibyte_text(tiny_stores):
    """Every model's tokens map to the words whose bytes they overlap (checked per byte)."""
    per_model = {}
    for kind in ("byte", "bpe"):
        records, _ = _records(tiny_stores[kind])
        per_model[kind] = next(r for r in records if r.probe_id == "mixed-0")
    text = per_model["byte"].text
    assert len(text.encode("utf-8")) > len(text)  # umlauts, Cyrillic, CJK
    payload = probe_payload(list(per_model.items()))
    words = np.asarray(payload["words"]).reshape(-1, 2)
    np.testing.assert_array_equal(words, unit_spans(text, "word"))
    word_of_byte = np.empty(len(text.encode("utf-8")), int)
    for u, (s, e) in enumerate(words):
        word_of_byte[s:e] = u
    covered = {}
    for model in payload["models"]:
        spans = np.asarray(model["spans"]).reshape(-1, 2)
        tw = np.asarray(model["token_words"]).reshape(-1, 2)
        for (s, e), (w0, w1) in zip(spans, tw, strict=True):
            if e <= s:
                assert (w0, w1) == (-1, -1)
            else:
                assert (w0, w1) == (word_of_byte[s], word_of_byte[e - 1])
        # The tokens of each word cover exactly that word's bytes, in every model.
        cover = []
        for u, (ws, we) in enumerate(words):
            mine = [k for k in range(len(spans)) if tw[k, 0] <= u <= tw[k, 1]]
            lo, hi = spans[mine, 0].min(), spans[mine, 1].max()
            assert lo <= ws and hi >= we
            cover.append((int(lo), int(hi)))
        covered[model["name"]] = cover
    assert covered["byte"] == [tuple(map(int, w)) for w in words]  # bytes never straddle words


def test_token_labels():
    text = "Grüße 東".encode()
    assert token_label(text, (0, 2), "x") == "Gr"
    assert token_label(text, (2, 4), "x") == "ü"
    assert token_label(text, (2, 3), "x") == "\\xc3"  # half of ü
    assert token_label(text, (8, 11), "x") == "東"
    assert token_label(text, (6, 11), "x") == "e␣東"
    assert token_label(text, (7, 9), "x") == "␣\\xe6"  # a space and the first byte of 東
    assert token_label(text, (0, 0), "<s>") == "<s>"


def test_cross_attention_payload():
    record = cross_record(synthetic_record("x", n_tokens=24, n_layers=2, n_heads=2), (1,), 3)
    payload = model_payload(record, "byte-branch")
    cross = payload["cross"]
    assert cross["layers"] == [1] and cross["n_heads"] == 3
    assert cross["n_bytes"] == len(record.text.encode("utf-8")) + 1  # BOS byte first
    decoded = unpack_bytes(cross["data"]).reshape(record.cross_attention.shape) / 255.0
    assert np.abs(decoded - record.cross_attention.astype(np.float32)).max() <= QUANTUM
    assert cross["byte_labels"] == ["BOS"] + ["␣" if c == " " else c for c in record.text]
    assert model_payload(synthetic_record("y", n_tokens=8), "plain")["cross"] is None


def test_probe_payload_refuses_different_texts():
    a = synthetic_record("p", n_tokens=10, seed=0)
    b = synthetic_record("p", n_tokens=12, seed=1)
    with pytest.raises(ValueError, match="different text"):
        probe_payload([("a", a), ("b", b)])


def test_iterative_lens_payload_decodes_to_the_record():
    from tests.unit.viewer.stores import synthetic_record

    record = synthetic_record("iter-0", n_tokens=12, n_layers=2, n_heads=2)
    assert model_payload(record, "m")["iter_lens"] is None  # no iterative lens stored
    rng = np.random.default_rng(7)
    record.iter_lens_ids = rng.integers(4, 60, (2, 12, 3)).astype(np.int32)
    record.iter_lens_probs = rng.random((2, 12, 3)).astype(np.float32)
    it = model_payload(record, "m")["iter_lens"]
    assert it["k"] == 3
    strings = [it["strings"][i] for i in it["index"]]
    assert strings == [f"#{i}" for i in record.iter_lens_ids.reshape(-1)]
    probs = unpack_bytes(it["probs"], compress=False) / 255.0
    assert np.abs(probs - record.iter_lens_probs.reshape(-1)).max() <= QUANTUM

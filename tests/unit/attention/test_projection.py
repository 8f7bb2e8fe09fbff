"""Projection of token maps onto bytes, characters and words."""

from __future__ import annotations

import numpy as np
import pytest

from tokattn.attention.projection import project_maps, projection_matrices, unit_spans
from tokattn.attention.store import AttentionStore


def _random_causal(rng, n, lead=(3,)):
    maps = np.tril(rng.random((*lead, n, n)) + 1e-3)
    return maps / maps.sum(-1, keepdims=True)


def test_unit_spans_partition_the_text():
    text = "  Grüße, Köln!\tja  "
    n = len(text.encode())
    for unit in ("byte", "char", "word"):
        spans = unit_spans(text, unit)
        assert spans[0, 0] == 0 and spans[-1, 1] == n
        np.testing.assert_array_equal(spans[1:, 0], spans[:-1, 1])  # contiguous, no gaps
    assert len(unit_spans(text, "char")) == len(text)
    words = [text.encode()[s:e].decode() for s, e in unit_spans(text, "word")]
    assert words == ["  Grüße,", " Köln!", "\tja  "]
    with pytest.raises(ValueError, match="unknown unit"):
        unit_spans(text, "sentence")


def test_byte_tokenizer_map_projected_to_bytes_is_identity():
    rng = np.random.default_rng(0)
    text = "héllo, 世界"
    n = len(text.encode())
    spans = np.stack([np.arange(n), np.arange(n) + 1], 1)
    maps = _random_causal(rng, n)
    np.testing.assert_allclose(
        project_maps(maps, spans, unit_spans(text, "byte")), maps, atol=1e-12
    )


@pytest.mark.parametrize("unit", ["byte", "char", "word"])
def test_projected_rows_sum_to_one_with_specials_and_straddling_tokens(unit):
    rng = np.random.default_rng(1)
    text = "the cat sat, 世界 ok"
    n = len(text.encode())
    # BOS (empty span), then tokens that straddle word and character boundaries.
    cuts = [0, 2, 5, 6, 11, 14, 15, 17, 20, n]
    spans = np.array([[0, 0]] + [[a, b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    maps = _random_causal(rng, len(spans), lead=(2, 3))
    out = project_maps(maps, spans, unit_spans(text, unit))
    assert out.shape[:2] == (2, 3)
    np.testing.assert_allclose(out.sum(-1), 1, atol=1e-12)
    assert np.all(out >= 0)


def test_key_mass_split_by_bytes_and_query_rows_averaged():
    units = np.array([[0, 2], [2, 4]])
    spans = np.array([[0, 1], [1, 3], [3, 4]])  # token 1 straddles the two units
    q, k = projection_matrices(spans, units)
    np.testing.assert_allclose(k, [[1, 0], [0.5, 0.5], [0, 1]])
    np.testing.assert_allclose(q, [[0.5, 0.5, 0], [0, 0.5, 0.5]])


def test_store_maps_project_to_words(stores):
    from tokattn.attention.projection import project_record

    with AttentionStore(stores["gpt2"]) as store:
        rec = store.record(store.probe_ids[0])
    maps, units = project_record(rec, "word")
    assert maps.shape == (rec.n_layers, rec.n_heads, len(units), len(units))
    np.testing.assert_allclose(maps.sum(-1), 1, atol=1e-5)


def test_projected_mass_is_the_attention_kept_off_bos():
    rng = np.random.default_rng(4)
    text = "ab cd efg"
    spans = np.array([[0, 0], [0, 2], [2, 4], [4, 5], [5, 9]])  # BOS, "ab", " c", "d", " efg"
    maps = _random_causal(rng, len(spans), lead=(2,))
    maps[1, :, 0] += 50  # head 1: almost everything on BOS
    maps /= maps.sum(-1, keepdims=True)
    words = unit_spans(text, "word")  # "ab", " cd", " efg"
    out, mass = project_maps(maps, spans, words, with_mass=True)
    for h in range(2):
        for u, (ws, we) in enumerate(words):
            tokens = [t for t, (s, e) in enumerate(spans) if min(e, we) - max(s, ws) > 0]
            kept = np.mean([1 - maps[h, t, 0] for t in tokens])  # BOS is key 0
            np.testing.assert_allclose(mass[h, u], kept, rtol=1e-12)
    assert mass[1].max() < 0.2 and mass[0].min() > 0.5
    np.testing.assert_allclose(out, project_maps(maps, spans, words))
    np.testing.assert_allclose(out.sum(-1), 1, atol=1e-12)

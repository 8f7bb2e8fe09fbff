"""The HDF5 store on its own: packing, round trip, chunking, refusal of bad files, CLI."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from tokattn.attention.lower_triangle import pack_lower, packed_size, unpack_lower
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import COMPRESSIONS, AttentionRecord, AttentionStoreError
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.cli.store import main


def _causal_maps(rng, shape, n):
    logits = rng.normal(size=(*shape, n, n))
    logits[..., np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] = -np.inf
    maps = np.exp(logits - logits.max(-1, keepdims=True))
    return maps / maps.sum(-1, keepdims=True)


def make_record(probe_id="p0", n=7, layers=2, heads=3, k=2, seed=0) -> AttentionRecord:
    rng = np.random.default_rng(seed)
    text = "héllo wörld"[: n - 1]
    maps = _causal_maps(rng, (layers, heads), n)
    return AttentionRecord(
        probe_id=probe_id,
        text=text,
        language="en",
        domain="test",
        kind="corpus",
        meta={"period_bytes": 3},
        token_ids=np.arange(n, dtype=np.int32),
        token_strings=["<s>", *[f"t{i}" for i in range(1, n)]],
        byte_spans=np.stack([np.arange(n), np.arange(n) + 1], 1).astype(np.int32),
        window_start=np.zeros(n, np.int32),
        attention=pack_lower(maps.astype(np.float16)),
        entropy=rng.random((layers, heads, n), dtype=np.float32),
        head_norm=rng.random((layers, heads, n), dtype=np.float32),
        head_cosine=rng.random((layers, heads, n), dtype=np.float32),
        attn_out_norm=rng.random((layers, n), dtype=np.float32),
        decomposition_error=np.full(layers, 1e-7, np.float32),
        lens_ids=rng.integers(0, 50, (layers, n, k)).astype(np.int32),
        lens_probs=rng.random((layers, n, k), dtype=np.float32),
    )


def write_store(path, records, compression="blosc2"):
    with AttentionStoreWriter(
        path, {"model": "m", "seed": 3, "n_layers": 2, "n_heads": 3}, compression
    ) as writer:
        for rec in records:
            writer.write(rec)
    return path


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(1)
    maps = np.tril(rng.random((2, 3, 9, 9)))
    packed = pack_lower(maps)
    assert packed.shape == (2, 3, packed_size(9)) == (2, 3, 45)
    # Row q occupies [q(q+1)/2, q(q+1)/2 + q + 1).
    np.testing.assert_array_equal(packed[0, 0, 6:10], maps[0, 0, 3, :4])
    np.testing.assert_array_equal(unpack_lower(packed, 9, dtype=np.float64), maps)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_round_trip_every_compression(tmp_path, compression):
    records = [make_record(f"p{i}", n=5 + i, seed=i) for i in range(3)]
    path = write_store(tmp_path / "s.h5", records, compression)
    with AttentionStore(path) as store:
        assert store.probe_ids == ["p0", "p1", "p2"]
        assert store.attrs["model"] == "m" and store.attrs["complete"]
        assert store.attrs["compression"] == compression
        for want in records:
            got = store.record(want.probe_id)
            for name in (
                "token_ids",
                "byte_spans",
                "attention",
                "entropy",
                "head_norm",
                "lens_ids",
                "lens_probs",
                "decomposition_error",
            ):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
            assert got.token_strings == want.token_strings
            assert got.text == want.text and got.meta == want.meta
            assert got.iter_lens_ids is None
            np.testing.assert_allclose(got.attention_maps().sum(-1), 1, atol=3e-3)


def test_one_map_is_one_chunk(tmp_path):
    path = write_store(tmp_path / "s.h5", [make_record(n=20)])
    with h5py.File(path, "r") as f:
        dset = f["probes/p0/attention"]
        assert dset.chunks == (1, 1, packed_size(20))
    with AttentionStore(path) as store:
        np.testing.assert_array_equal(
            store.attention_map("p0", 1, 2), store.record("p0").attention_map(1, 2)
        )


def test_failed_writer_leaves_nothing(tmp_path):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError, match="boom"), AttentionStoreWriter(path, {}) as writer:
        writer.write(make_record())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_half_written_file_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    # A copy taken while the writer is still open (consistency flags set) ...
    writer = AttentionStoreWriter(path, {"model": "m"})
    writer.write(make_record())
    writer._file.flush()
    shutil.copy(writer.tmp_path, path)
    with pytest.raises(AttentionStoreError, match="still being written"):
        AttentionStore(path)
    # ... and a file closed before the writer marked it complete.
    writer._file.close()
    shutil.copy(writer.tmp_path, path)
    writer.abort()
    with pytest.raises(AttentionStoreError, match="incomplete attention store"):
        AttentionStore(path)


def test_truncated_file_is_refused(tmp_path):
    path = write_store(
        tmp_path / "s.h5", [make_record(n=30, seed=i, probe_id=f"p{i}") for i in range(4)]
    )
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 100, 100):
        bad = tmp_path / f"cut{cut}.h5"
        bad.write_bytes(data[:cut])
        with pytest.raises(AttentionStoreError, match="truncated"):
            AttentionStore(bad)


def test_wrong_schema_and_missing_file_are_refused(tmp_path):
    path = write_store(tmp_path / "s.h5", [make_record()])
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(AttentionStoreError, match="schema version 99"):
        AttentionStore(path)
    with pytest.raises(AttentionStoreError, match="no such attention store"):
        AttentionStore(tmp_path / "missing.h5")


def test_cli_list_and_show(tmp_path, capsys):
    path = write_store(tmp_path / "s.h5", [make_record("a"), make_record("b", n=4)])
    assert main(["list", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model: m" in out and "\na\tcorpus\ten\ttest\t7\t" in out and "\nb\t" in out
    assert main(["show", str(path), "b", "1", "0"]) == 0
    out = capsys.readouterr().out
    assert "b layer 1 head 0: 4 tokens" in out
    assert len([line for line in out.splitlines() if "|" in line]) == 4
    bad = tmp_path / "bad.h5"
    bad.write_bytes(path.read_bytes()[:500])
    assert main(["list", str(bad)]) == 2
    assert "truncated" in capsys.readouterr().err


def test_schema_2_file_is_read_and_additive_shares_derived(tmp_path):
    # The version-2 layout: no head_additive / bias_additive datasets.
    path = write_store(tmp_path / "v2.h5", [make_record()])
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 2
        assert "head_additive" not in f["probes/p0"]
    with AttentionStore(path) as store:
        rec = store.record("p0")
    assert rec.head_additive is None and rec.bias_additive is None
    heads, bias = rec.additive_shares()
    # ⟨c_h, o⟩/‖o‖² = ‖c_h‖ cos(c_h, o) / ‖o‖, computed here element by element.
    layers, n_heads, n = rec.head_norm.shape
    for layer in range(layers):
        for q in range(n):
            for h in range(n_heads):
                want = rec.head_norm[layer, h, q] * rec.head_cosine[layer, h, q]
                want /= rec.attn_out_norm[layer, q]
                np.testing.assert_allclose(heads[layer, h, q], want, rtol=1e-5)
    np.testing.assert_allclose(heads.sum(1) + bias, 1, atol=1e-5)


def test_schema_3_additive_shares_round_trip(tmp_path):
    rec = make_record()
    rng = np.random.default_rng(5)
    rec.head_additive = rng.random(rec.head_norm.shape, dtype=np.float32)
    rec.bias_additive = 1 - rec.head_additive.sum(1)
    path = write_store(tmp_path / "v3.h5", [rec])
    with AttentionStore(path) as store:
        assert store.attrs["schema_version"] == 3
        got = store.record("p0")
    np.testing.assert_array_equal(got.head_additive, rec.head_additive)
    np.testing.assert_array_equal(got.additive_shares()[1], rec.bias_additive)

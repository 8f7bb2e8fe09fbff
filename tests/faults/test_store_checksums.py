"""Attention store corruption: every byte flip reads back identical data or raises clearly."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from tests.faults.injection import byte_flip_run, store_contents
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import ATTRS_CHECKSUM, AttentionStoreError


def test_random_byte_flips_are_never_silent(real_store, tmp_path):
    result = byte_flip_run(real_store, tmp_path / "flipped.h5", n=100, seed=15)
    counts = result["counts"]
    assert sum(counts.values()) == 100
    # Before checksums, most flips in the data region read back changed numbers.
    assert counts["silent"] == 0, result["failures"]
    assert counts["unclear_error"] == 0, result["failures"]
    assert counts["clear_error"] > 50


def _datasets(path) -> dict[str, bool]:
    """Return {dataset name: has Fletcher32} of every dataset in the file."""
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = obj.fletcher32

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def test_every_numeric_dataset_carries_fletcher32(real_store):
    found = _datasets(real_store)
    assert "probes/p0/attention" in found and "probes/p0/token_ids" in found
    with h5py.File(real_store, "r") as f:
        for name, fletcher in found.items():
            if h5py.check_string_dtype(f[name].dtype) is None:
                assert fletcher, name
            else:  # HDF5 filters no variable-length data: covered by ATTRS_CHECKSUM
                assert name.endswith(("token_strings", "probe_ids")), name


def test_checksummed_store_reads_with_plain_h5py(real_store):
    import hdf5plugin  # noqa: F401

    with AttentionStore(real_store) as store, h5py.File(real_store, "r") as f:
        rec = store.record("p1")
        np.testing.assert_array_equal(f["probes/p1/attention"][()], rec.attention)
        np.testing.assert_array_equal(f["probes/p1/token_ids"][()], rec.token_ids)
        assert ATTRS_CHECKSUM not in rec.attrs


def test_flipped_probe_text_names_the_probe(real_store, tmp_path):
    data = bytearray(real_store.read_bytes())
    offset = bytes(data).index("Grüße".encode())  # probe p1's text, in HDF5's global heap
    data[offset] ^= 0x01  # "G" -> "F"
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    with AttentionStore(bad) as store:
        store.record("p0")
        with pytest.raises(AttentionStoreError, match=r"bad\.h5: probe 'p1': dataset 'attributes'"):
            store.record("p1")


def test_wrong_shape_names_the_dataset(real_store, tmp_path):
    bad = tmp_path / "bad.h5"
    shutil.copy(real_store, bad)
    with h5py.File(bad, "r+") as f:
        g = f["probes/p2"]
        n = g["window_start"].shape[0]
        del g["window_start"]
        g.create_dataset("window_start", data=np.zeros(n - 1, np.int32))
    with (
        AttentionStore(bad) as store,
        pytest.raises(
            AttentionStoreError, match=r"probe 'p2': dataset 'shapes'.*window_start has shape"
        ),
    ):
        store.record("p2")


def test_store_without_checksum_attribute_still_reads(real_store, tmp_path):
    old = tmp_path / "old.h5"
    shutil.copy(real_store, old)
    with h5py.File(old, "r+") as f:
        del f.attrs[ATTRS_CHECKSUM]
        for g in f["probes"].values():
            del g.attrs[ATTRS_CHECKSUM]
    want = store_contents(real_store)
    got = store_contents(old)
    assert got["p0"] == want["p0"]


def _flip_in_chunk(path, dataset: str, out) -> None:
    """Copy `path` to `out` with one byte of `dataset`'s first chunk flipped."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[info.byte_offset + info.size // 2] ^= 0x10
    out.write_bytes(bytes(data))


def test_flipped_token_ids_chunk_names_probe_and_dataset(real_store, tmp_path):
    bad = tmp_path / "bad.h5"
    _flip_in_chunk(real_store, "probes/p0/token_ids", bad)
    with (
        AttentionStore(bad) as store,
        pytest.raises(AttentionStoreError, match=r"bad\.h5: probe 'p0': dataset 'token_ids'"),
    ):
        store.record("p0")


def test_flipped_attention_chunk_fails_single_map_read(real_store, tmp_path):
    bad = tmp_path / "bad.h5"
    _flip_in_chunk(real_store, "probes/p1/attention", bad)  # chunk 0 is (layer 0, head 0)
    with AttentionStore(bad) as store:
        store.attention_map("p1", 1, 1)  # other chunks still read
        with pytest.raises(AttentionStoreError, match=r"probe 'p1': dataset 'attention' layer 0"):
            store.attention_map("p1", 0, 0)


def test_word_maps_carry_checksums(tmp_path):
    from tokattn.attention.word_maps import WordMaps, WordMapWriter

    maps = np.random.default_rng(0).random((2, 2, 5, 5), dtype=np.float32)
    path = tmp_path / "word_maps.h5"
    with WordMapWriter(path, {"model": "m"}) as writer:
        writer.write("p0", maps, np.zeros((5, 2), np.int32))
    assert all(_datasets(path)[f"probes/p0/{name}"] for name in ("maps", "unit_spans"))
    bad = tmp_path / "bad.h5"
    _flip_in_chunk(path, "probes/p0/maps", bad)
    with (
        WordMaps(bad) as wm,
        pytest.raises(AttentionStoreError, match=r"bad\.h5: probe 'p0': dataset 'maps'"),
    ):
        wm.maps("p0")

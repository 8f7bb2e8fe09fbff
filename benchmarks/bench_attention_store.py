"""Attention store: write throughput, file size and single-map read latency.

    python benchmarks/bench_attention_store.py [--gb 1.0] [--compression blosc2]

Three measurements on synthetic causal attention (softmax of random logits with a
per-head temperature, a first-token sink and a recency bias, so heads range from nearly
uniform to sharp, as in trained models), all in one run on the same machine:

1. write throughput: `AttentionStoreWriter.write` of full records vs raw h5py writing
   the same arrays (same groups, chunks and filters, Fletcher32 included) — target
   ratio ≥ 0.8. The packing of dense maps into lower triangles (done by the dump, not
   the writer) is timed apart;
2. file size of the store vs the dense float16 maps [layer, head, q, k] — target ≤ 0.3;
3. latency of reading one (probe, layer, head) map as a dense array from a ~--gb GB
   store through `AttentionStore.attention_map`, warm and with the file's pages dropped
   from the page cache (posix_fadvise DONTNEED) — target ≤ 10 ms;
4. cost of the checksums: raw h5py writing and reading the same arrays with and without
   the Fletcher32 filter (write time, one-map read time, whole-probe read time).

The files live in a temporary directory that is deleted at the end. Exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tokattn.attention.lower_triangle import pack_lower
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import AttentionRecord, compression_options, dataset_options
from tokattn.attention.store_writer import AttentionStoreWriter


def synthetic_maps(rng, n_layers: int, n_heads: int, n: int) -> np.ndarray:
    """Return causal attention maps [layer, head, q, k] float16 with varied sharpness."""
    q = np.arange(n)
    recency = -0.05 * (q[:, None] - q[None, :]).clip(0)
    out = np.empty((n_layers, n_heads, n, n), np.float16)
    for layer in range(n_layers):
        temp = rng.uniform(0.5, 4.0, size=(n_heads, 1, 1))  # per-head sharpness
        logits = rng.standard_normal((n_heads, n, n), dtype=np.float32) * temp + recency
        logits[:, :, 0] += rng.uniform(0, 6, size=(n_heads, 1))  # attention sink
        logits[:, q[:, None] < q[None, :]] = -np.inf
        logits -= logits.max(-1, keepdims=True)
        maps = np.exp(logits)
        out[layer] = maps / maps.sum(-1, keepdims=True)
    return out


def synthetic_record(rng, probe_id: str, maps: np.ndarray, k: int = 5) -> AttentionRecord:
    n_layers, n_heads, n, _ = maps.shape
    return AttentionRecord(
        probe_id=probe_id,
        text="x" * (n - 1),
        language="en",
        domain="bench",
        kind="corpus",
        meta={},
        token_ids=rng.integers(0, 32000, n).astype(np.int32),
        token_strings=[f"t{i}" for i in range(n)],
        byte_spans=np.stack([np.arange(n), np.arange(n) + 1], 1).astype(np.int32),
        window_start=np.zeros(n, np.int32),
        attention=pack_lower(maps),
        entropy=rng.random((n_layers, n_heads, n), dtype=np.float32),
        head_norm=rng.random((n_layers, n_heads, n), dtype=np.float32),
        head_cosine=rng.random((n_layers, n_heads, n), dtype=np.float32),
        attn_out_norm=rng.random((n_layers, n), dtype=np.float32),
        decomposition_error=np.zeros(n_layers, np.float32),
        lens_ids=rng.integers(0, 32000, (n_layers, n, k)).astype(np.int32),
        lens_probs=rng.random((n_layers, n, k), dtype=np.float32),
    )


ARRAYS = (
    "token_ids", "byte_spans", "window_start", "entropy", "head_norm", "head_cosine",
    "attn_out_norm", "decomposition_error", "lens_ids", "lens_probs",
)  # fmt: skip


def write_store(path: Path, records, compression: str, level: int) -> float:
    start = time.perf_counter()
    with AttentionStoreWriter(path, {"model": "bench"}, compression, level) as writer:
        for rec in records:
            writer.write(rec)
    return time.perf_counter() - start


def write_raw(path: Path, records, compression: str, level: int, checksum: bool = True) -> float:
    """Raw h5py: the same datasets, chunks and filters (Fletcher32 too), no store logic."""
    filt = (dataset_options if checksum else compression_options)(compression, level)
    start = time.perf_counter()
    with h5py.File(path, "w") as f:
        grp = f.create_group("probes")
        for rec in records:
            g = grp.create_group(rec.probe_id)
            g.create_dataset(
                "attention", data=rec.attention, chunks=(1, 1, rec.attention.shape[-1]), **filt
            )
            g.create_dataset(
                "token_strings",
                data=np.array(rec.token_strings, dtype=object),
                dtype=h5py.string_dtype("utf-8"),
            )
            for name in ARRAYS:
                g.create_dataset(name, data=getattr(rec, name), **filt)
    return time.perf_counter() - start


def bench_checksum(tmp: Path, args, rng) -> dict:
    """Return the relative cost of Fletcher32 on writes and reads (raw h5py, same arrays)."""
    maps = [synthetic_maps(rng, args.layers, args.heads, args.tokens) for _ in range(4)]
    records = [synthetic_record(rng, f"p{i}", maps[i % len(maps)]) for i in range(args.records)]
    paths = {"plain": tmp / "plain.h5", "fletcher32": tmp / "fletcher32.h5"}
    write_s = {kind: [] for kind in paths}
    for rep in range(args.repeats):
        for kind in paths if rep % 2 else reversed(paths):
            write_s[kind].append(
                write_raw(paths[kind], records, args.compression, args.level, kind != "plain")
            )
    picks = [
        (f"p{rng.integers(len(records))}", int(rng.integers(args.layers)),
         int(rng.integers(args.heads)))
        for _ in range(args.reads)
    ]  # fmt: skip
    one_map, whole = {}, {}
    for kind, path in paths.items():
        with h5py.File(path, "r") as f:
            times = []
            for probe, layer, head in picks * 2:  # the second pass is the warm one
                t0 = time.perf_counter()
                f["probes"][probe]["attention"][layer, head]
                times.append(time.perf_counter() - t0)
            one_map[kind] = statistics.median(times[len(picks) :]) * 1e3
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                for g in f["probes"].values():
                    for name in ("attention", *ARRAYS):
                        g[name][()]
            whole[kind] = (time.perf_counter() - t0) / args.repeats
        path.unlink()
    out = {
        "write": min(write_s["fletcher32"]) / min(write_s["plain"]),
        "one_map": one_map["fletcher32"] / one_map["plain"],
        "whole": whole["fletcher32"] / whole["plain"],
    }
    print("checksums (Fletcher32 vs none, raw h5py, same arrays and compression):")
    print(
        f"  write best {min(write_s['fletcher32']):.2f} s vs {min(write_s['plain']):.2f} s: "
        f"{out['write']:.2f}x time"
    )
    print(
        f"  one map warm median {one_map['fletcher32']:.2f} ms vs {one_map['plain']:.2f} ms: "
        f"{out['one_map']:.2f}x time"
    )
    print(
        f"  whole file read {whole['fletcher32']:.2f} s vs {whole['plain']:.2f} s: "
        f"{out['whole']:.2f}x time"
    )
    return out


def drop_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def bench_write(tmp: Path, args, rng) -> tuple[float, float]:
    maps = [synthetic_maps(rng, args.layers, args.heads, args.tokens) for _ in range(4)]
    start = time.perf_counter()
    packed_total = sum(pack_lower(m).nbytes for m in maps)
    pack_s = time.perf_counter() - start
    records = [synthetic_record(rng, f"p{i}", maps[i % len(maps)]) for i in range(args.records)]
    payload = sum(r.attention.nbytes for r in records)
    store_s, raw_s = [], []
    for rep in range(args.repeats):
        for kind in ("raw", "store") if rep % 2 else ("store", "raw"):
            path = tmp / f"{kind}{rep}.h5"
            if kind == "store":
                store_s.append(write_store(path, records, args.compression, args.level))
            else:
                raw_s.append(write_raw(path, records, args.compression, args.level))
            if kind == "store":
                size = path.stat().st_size
            path.unlink()
    dense = len(records) * maps[0].nbytes
    ratio = min(raw_s) / min(store_s)
    print(
        f"write: {len(records)} probes x [{args.layers} layers, {args.heads} heads, "
        f"{args.tokens} tokens], {payload / 1e6:.0f} MB packed float16 per file, "
        f"{args.compression} level {args.level}"
    )
    print(f"  store      best {min(store_s):.2f} s  {payload / min(store_s) / 1e6:7.1f} MB/s")
    print(f"  raw h5py   best {min(raw_s):.2f} s  {payload / min(raw_s) / 1e6:7.1f} MB/s")
    print(f"  ratio store/raw throughput = {ratio:.2f}  (target >= 0.8)")
    print(
        f"  (dump side, not in the ratio) packing dense maps: "
        f"{packed_total / pack_s / 1e6:.0f} MB/s of packed output"
    )
    print(
        f"  file size {size / 1e6:.1f} MB vs dense float16 {dense / 1e6:.1f} MB: "
        f"{size / dense:.3f}  (target <= 0.3)"
    )
    return ratio, size / dense


def bench_read(tmp: Path, args, rng) -> tuple[float, float, float]:
    maps = [synthetic_maps(rng, args.read_layers, args.heads, args.tokens) for _ in range(3)]
    records = [synthetic_record(rng, "x", m) for m in maps]
    path = tmp / "big.h5"
    start = time.perf_counter()
    n_probes, dense = 0, 0
    with AttentionStoreWriter(path, {"model": "bench"}, args.compression, args.level) as writer:
        while writer.tmp_path.stat().st_size < args.gb * 1e9:
            rec = records[n_probes % len(records)]
            rec.probe_id = f"probe{n_probes:05d}"
            writer.write(rec)
            writer._file.flush()
            n_probes += 1
            dense += maps[0].nbytes
    size = path.stat().st_size
    print(
        f"read: {size / 1e9:.2f} GB store, {n_probes} probes x [{args.read_layers} layers, "
        f"{args.heads} heads, {args.tokens} tokens] written in {time.perf_counter() - start:.0f} s; "
        f"size vs dense float16 {size / dense:.3f}"
    )
    picks = [
        (f"probe{rng.integers(n_probes):05d}", int(rng.integers(args.read_layers)),
         int(rng.integers(args.heads)))
        for _ in range(args.reads)
    ]  # fmt: skip
    results = {}
    for mode in ("cold", "warm"):
        times = []
        if mode == "cold":
            drop_page_cache(path)
        with AttentionStore(path) as store:
            for probe, layer, head in picks:
                t0 = time.perf_counter()
                amap = store.attention_map(probe, layer, head)
                times.append(time.perf_counter() - t0)
        assert amap.shape == (args.tokens, args.tokens)
        times_ms = sorted(1e3 * t for t in times)
        results[mode] = (statistics.median(times_ms), times_ms[int(0.95 * len(times_ms)) - 1])
        print(
            f"  one map [{args.tokens} x {args.tokens}] {mode:4s}: median {results[mode][0]:.2f} ms, "
            f"p95 {results[mode][1]:.2f} ms over {len(times)} random reads  (target <= 10 ms)"
        )
    path.unlink()
    return results["cold"][0], results["warm"][0], size / dense


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the read-test file")
    parser.add_argument("--compression", default="blosc2")
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--read-layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--records", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(
        f"CPU cores: {os.cpu_count()}, h5py {h5py.version.version}, HDF5 {h5py.version.hdf5_version}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_attention_") as tmp:
        ratio, size_ratio = bench_write(Path(tmp), args, rng)
        bench_checksum(Path(tmp), args, rng)
        cold_ms, warm_ms, big_size_ratio = bench_read(Path(tmp), args, rng)
    ok = ratio >= 0.8 and max(size_ratio, big_size_ratio) <= 0.3 and cold_ms <= 10
    print("PASS" if ok else "MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

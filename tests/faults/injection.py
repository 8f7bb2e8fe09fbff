"""Fault injection against real artefacts: byte flips of an attention store, and helpers.

Shared by the tests in tests/faults/ and by `benchmarks/fault_injection.py`. Every case
ends in one of three outcomes: ``identical`` (the fault changed nothing a reader sees),
``clear_error`` (the reader raised the project's own error naming the file), or
``silent`` (different data came back without an error) — the last must never happen.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import AttentionStoreError

PROBE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Grüße aus Köln! Der Dom ist groß.",
    "Москва — столица России. 東京は日本の首都です。",
]


def write_probes(path: Path, texts: list[str] = PROBE_TEXTS) -> Path:
    """Write a probes.jsonl of `texts` (one corpus-kind probe each); return its path."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            probe = {"id": f"p{i}", "text": text, "language": "mul", "domain": "test"}
            fh.write(json.dumps({**probe, "kind": "corpus", "meta": {}}, ensure_ascii=False) + "\n")
    return path


def tiny_store(folder: Path, compression: str = "blosc2") -> Path:
    """Dump a real attention store of a tiny random Llama on PROBE_TEXTS; return its path."""
    from tests.tiny_models import save_tiny_model
    from tokattn.attention.dump import dump_attention

    folder.mkdir(parents=True, exist_ok=True)
    model = save_tiny_model(folder / "model", "byte", context=64)
    probes = write_probes(folder / "probes.jsonl")
    cfg = {"device": "cpu", "top_k": 3, "compression": compression}
    return dump_attention(model, probes, folder / "seed0.h5", "tiny", 0, cfg)


def store_contents(path: Path) -> dict:
    """Return everything a reader sees in a store: root attributes and every record."""
    out = {}
    with AttentionStore(path) as store:
        out["attrs"] = {k: _plain(v) for k, v in store.attrs.items()}
        out["probe_ids"] = list(store.probe_ids)
        for probe_id in store.probe_ids:
            rec = store.record(probe_id)
            out[probe_id] = {k: _plain(v) for k, v in vars(rec).items()}
            out[probe_id]["map_1_1"] = _plain(store.attention_map(probe_id, 1, 1))
    return out


def _plain(value):
    if isinstance(value, np.ndarray | np.generic):
        return (str(value.dtype), np.asarray(value).tobytes(), np.shape(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def flip_byte_case(store: Path, scratch: Path, offset: int, reference: dict) -> str:
    """Flip every bit of the byte at `offset` in a copy of `store`; return the outcome."""
    data = bytearray(store.read_bytes())
    data[offset] ^= 0xFF
    scratch.write_bytes(bytes(data))
    try:
        got = store_contents(scratch)
    except AttentionStoreError as exc:
        if str(scratch) not in str(exc):
            return "unclear_error"
        return "clear_error"
    except Exception:  # anything but the project's own error is a failure to report clearly
        return "unclear_error"
    return "identical" if got == reference else "silent"


def byte_flip_run(store: Path, scratch: Path, n: int, seed: int = 0) -> dict:
    """Flip `n` random single bytes of `store` (one at a time); return outcome counts."""
    reference = store_contents(store)
    size = store.stat().st_size
    rng = random.Random(seed)
    counts = {"identical": 0, "clear_error": 0, "silent": 0, "unclear_error": 0}
    failures = []
    for offset in rng.sample(range(size), min(n, size)):
        outcome = flip_byte_case(store, scratch, offset, reference)
        counts[outcome] += 1
        if outcome in ("silent", "unclear_error"):
            failures.append((offset, outcome))
    return {"counts": counts, "failures": failures, "size": size}

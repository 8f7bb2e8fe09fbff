"""Per-head statistics of one attention store, its word-level maps and a correlation table.

`analyze_store` reads an attention store probe by probe (through `AttentionStore`
only) and writes:

- ``heads.parquet``: one row per (layer, head): mean normalised entropy, mean attention
  distance in tokens and in bytes, previous-token score, first-token ("sink") score,
  contribution share and norm, mean cosine to the layer output, induction score;
- ``word_maps.h5``: every probe's maps projected onto words [layer, head, word, word];
- ``correlations.parquet``: Spearman and Pearson correlations between what a head
  attends to and how much it changes the hidden state, across heads and across
  (probe, layer, head, position) samples.

Query positions with a single visible key (the first token) are left out of every mean:
their row is fixed at 1 and says nothing about the head.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from scipy import stats

from tokattn.atomic_files import remove_stale_temps
from tokattn.attention_store import (
    AttentionRecord,
    AttentionStore,
    AttentionStoreError,
    dataset_options,
)
from tokattn.model_checks import check_finite_arrays
from tokattn.projection import project_maps, unit_spans

HEAD_STATS = (
    "entropy_norm",
    "distance_tokens",
    "distance_bytes",
    "prev_token_score",
    "sink_score",
    "contribution_share",
    "contribution_norm",
    "cosine",
)
CORRELATION_PAIRS = (
    ("contribution_norm", "entropy_norm"),
    ("contribution_share", "entropy_norm"),
    ("contribution_norm", "distance_bytes"),
    ("contribution_norm", "sink_score"),
    ("contribution_norm", "prev_token_score"),
    ("cosine", "entropy_norm"),
    ("contribution_norm", "induction_score"),
)


def visible_keys(record: AttentionRecord, add_bos: bool) -> np.ndarray:
    """Return the number of keys each query could attend to [pos] (its window, plus BOS)."""
    q = np.arange(record.n_tokens)
    ws = record.window_start.astype(np.int64)
    return q - ws + 1 + ((ws > 0) & add_bos)


def probe_head_sums(
    record: AttentionRecord, add_bos: bool, maps: np.ndarray | None = None
) -> tuple[dict, int]:
    """Return per-(layer, head) sums of every statistic over the probe's queries, and their count."""
    maps = record.attention_maps() if maps is None else maps  # [layer, head, q, k]
    n = record.n_tokens
    keys = visible_keys(record, add_bos)
    use = keys > 1  # [q]
    q_idx = np.arange(n)
    dist_tok = (q_idx[:, None] - q_idx[None, :]).clip(0)  # [q, k]
    starts = record.byte_spans[:, 0].astype(np.int64)
    dist_bytes = (starts[:, None] - starts[None, :]).clip(0)
    entropy_norm = record.entropy / np.log(np.maximum(keys, 2))  # [layer, head, q]
    norm_sum = record.head_norm.sum(1, keepdims=True)
    share = np.divide(
        record.head_norm, norm_sum, out=np.zeros_like(record.head_norm), where=norm_sum > 0
    )
    prev = np.zeros(maps.shape[:3])
    prev[..., 1:] = maps[..., q_idx[1:], q_idx[1:] - 1]
    per_pos = {
        "entropy_norm": entropy_norm,
        "distance_tokens": (maps * dist_tok).sum(-1),
        "distance_bytes": (maps * dist_bytes).sum(-1),
        "prev_token_score": prev,
        "sink_score": maps[..., 0],
        "contribution_share": share,
        "contribution_norm": record.head_norm,
        "cosine": record.head_cosine,
    }
    return {k: v[..., use].sum(-1) for k, v in per_pos.items()}, int(use.sum())


def induction_targets(record: AttentionRecord) -> tuple[np.ndarray, np.ndarray]:
    """Return (queries, keys): for each token of the second copy, the token after its earlier copy.

    Works in bytes, so it does not matter how a tokenizer cut either copy: the target of
    query token [s, e) is the key token starting at byte e − period; queries without such
    a token, or whose target lies before their window (long probes), are skipped.
    """
    period = int(record.meta.get("period_bytes", 0))
    first = int(record.meta.get("repeat_start_byte", 0))
    if period <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    spans = record.byte_spans.astype(np.int64)
    nonempty = spans[:, 1] > spans[:, 0]
    start_to_token = {int(s): t for t, s in enumerate(spans[:, 0]) if nonempty[t]}
    queries, keys = [], []
    window_start = record.window_start
    for t in np.nonzero(nonempty & (spans[:, 0] >= first))[0]:
        k = start_to_token.get(int(spans[t, 1]) - period)
        # A target outside the query's window (long probes) was never visible: skip it.
        if k is not None and window_start[t] <= k <= t:
            queries.append(t)
            keys.append(k)
    return np.array(queries, np.int64), np.array(keys, np.int64)


class WordMapWriter:
    """Stream word-level maps into word_maps.h5 (temp file, `complete` last, then rename)."""

    def __init__(self, path: str | Path, attrs: Mapping):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        remove_stale_temps(self.path)
        self._file = h5py.File(self.tmp, "w")
        for k, v in attrs.items():
            self._file.attrs[k] = v
        self._file.attrs["unit"] = "word"
        self._file.attrs["complete"] = False
        self._group = self._file.create_group("probes")
        self._ids: list[str] = []

    def write(self, probe_id: str, maps: np.ndarray, units: np.ndarray) -> None:
        """Write one probe's maps [layer, head, word, word] and word byte spans [word, 2]."""
        g = self._group.create_group(probe_id)
        chunks = (1, 1, *maps.shape[2:]) if maps.size else None
        g.create_dataset("maps", data=maps, chunks=chunks, **dataset_options("gzip", 4))
        g.create_dataset("unit_spans", data=units.astype(np.int32), fletcher32=True)
        self._ids.append(probe_id)

    def __enter__(self) -> WordMapWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._file.create_dataset(
                    "probe_ids",
                    data=np.array(self._ids, dtype=object),
                    dtype=h5py.string_dtype("utf-8"),
                )
                self._file.attrs["complete"] = True
            self._file.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


class WordMaps:
    """Lazy reader of a word_maps.h5 file: `attrs`, `probe_ids`, `maps(probe_id)`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r")
        if not bool(self._file.attrs.get("complete", False)):
            self._file.close()
            raise ValueError(f"{path}: incomplete word-map file (rerun the analysis)")
        self.attrs = {
            k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._file.attrs.items()
        }
        self.probe_ids = [
            p.decode() if isinstance(p, bytes) else p for p in self._file["probe_ids"][()]
        ]

    def maps(self, probe_id: str) -> np.ndarray:
        """Return one probe's word maps [layer, head, word, word] as float32."""
        if probe_id not in self.probe_ids:
            raise KeyError(f"{self.path}: no probe {probe_id!r}")
        try:
            return self._file["probes"][probe_id]["maps"][()].astype(np.float32)
        except Exception as exc:  # h5py raises OSError (e.g. a Fletcher32 mismatch) on damage
            raise AttentionStoreError(
                f"{self.path}: probe {probe_id!r}: dataset 'maps' unreadable or damaged ({exc})"
            ) from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> WordMaps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def correlation_table(heads: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Return Spearman/Pearson correlations for CORRELATION_PAIRS across heads and samples."""
    rows = []
    for level, df in (("head", heads), ("position", samples)):
        for x, y in CORRELATION_PAIRS:
            if x not in df or y not in df:
                continue
            pair = df[[x, y]].dropna()
            for method, fn in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
                r, p = np.nan, np.nan
                if len(pair) >= 3 and pair[x].nunique() > 1 and pair[y].nunique() > 1:
                    res = fn(pair[x], pair[y])
                    r, p = float(res[0]), float(res[1])
                rows.append(
                    {
                        "level": level,
                        "x": x,
                        "y": y,
                        "method": method,
                        "r": r,
                        "p_value": p,
                        "n": len(pair),
                    }
                )
    return pd.DataFrame(rows, columns=["level", "x", "y", "method", "r", "p_value", "n"])


class _HeadAccumulator:
    """Running per-(layer, head) sums over probes, plus a subsample of positions."""

    def __init__(self, n_layers: int, n_heads: int, add_bos: bool, per_probe: int, seed: int):
        self.shape = (n_layers, n_heads)
        self.add_bos = add_bos
        self.per_probe = per_probe
        self.rng = np.random.default_rng(seed)
        self.sums = {k: np.zeros(self.shape) for k in HEAD_STATS}
        self.count = 0
        self.induction_sum, self.induction_n = np.zeros(self.shape), 0
        self.samples: list[pd.DataFrame] = []

    def add(self, record: AttentionRecord, maps: np.ndarray) -> None:
        probe_sums, n_used = probe_head_sums(record, self.add_bos, maps)
        for k, v in probe_sums.items():
            self.sums[k] += v
        self.count += n_used
        if record.kind == "repeat":
            queries, keys = induction_targets(record)
            if len(queries):
                self.induction_sum += maps[..., queries, keys].sum(-1)
                self.induction_n += len(queries)
        keys_visible = visible_keys(record, self.add_bos)
        pos = np.nonzero(keys_visible > 1)[0]
        if len(pos):
            n_layers, n_heads = self.shape
            pool = n_layers * n_heads * len(pos)
            draw = self.rng.choice(pool, size=min(self.per_probe, pool), replace=False)
            layer, head, q = np.unravel_index(draw, (n_layers, n_heads, len(pos)))
            qp = pos[q]
            self.samples.append(
                pd.DataFrame(
                    {
                        "contribution_norm": record.head_norm[layer, head, qp],
                        "cosine": record.head_cosine[layer, head, qp],
                        "entropy_norm": record.entropy[layer, head, qp] / np.log(keys_visible[qp]),
                    }
                )
            )

    def heads(self, meta: Mapping) -> pd.DataFrame:
        rows = []
        for layer in range(self.shape[0]):
            for head in range(self.shape[1]):
                row = {
                    "model": meta["model"],
                    "seed": meta["seed"],
                    "tokenizer": meta["tokenizer"],
                    "layer": layer,
                    "head": head,
                    "n_queries": self.count,
                }
                for k in HEAD_STATS:
                    row[k] = self.sums[k][layer, head] / self.count if self.count else np.nan
                row["induction_score"] = (
                    self.induction_sum[layer, head] / self.induction_n
                    if self.induction_n
                    else np.nan
                )
                rows.append(row)
        return pd.DataFrame(rows)


def analyze_store(
    store_path: str | Path,
    heads_path: str | Path,
    word_maps_path: str | Path,
    correlations_path: str | Path,
    max_samples: int = 100_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Write heads.parquet, word_maps.h5 and correlations.parquet for one store; return heads."""
    with AttentionStore(store_path) as store:
        a = store.attrs
        meta = {
            "model": a["model"],
            "seed": int(a["seed"]),
            "tokenizer": a.get("tokenizer", ""),
            "n_layers": int(a["n_layers"]),
            "n_heads": int(a["n_heads"]),
        }
        acc = _HeadAccumulator(
            meta["n_layers"],
            meta["n_heads"],
            bool(a.get("add_bos", True)),
            max(1, max_samples // max(len(store), 1)),
            seed,
        )
        with WordMapWriter(word_maps_path, meta) as word_writer:
            for record in store:
                # A store written before the dump refused non-finite models may hold NaN.
                check_finite_arrays(vars(record), f"{store_path}: probe {record.probe_id}")
                maps = record.attention_maps()  # [layer, head, q, k], unpacked once per probe
                acc.add(record, maps)
                units = unit_spans(record.text, "word")
                word_maps = project_maps(maps, record.byte_spans, units).astype(np.float32)
                word_writer.write(record.probe_id, word_maps, units)
    heads = acc.heads(meta)
    _write_parquet(heads, Path(heads_path))
    samples = pd.concat(acc.samples, ignore_index=True) if acc.samples else pd.DataFrame()
    corr = correlation_table(heads, samples)
    corr.insert(0, "seed", meta["seed"])
    corr.insert(0, "model", meta["model"])
    _write_parquet(corr, Path(correlations_path))
    return heads


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)

"""Per-head statistics of one attention store, its word-level maps and a correlation table.

`analyze_store` reads an attention store probe by probe (through `AttentionStore`
only) and writes:

- ``heads.parquet``: one row per (layer, head), columns in `HEAD_STATS` (formulas in
  docs/attention-store.md). Token-frame statistics (``*_per_token``, ``distance_tokens``)
  depend on how the tokenizer cut the text (with a byte tokenizer the "previous token"
  is the previous byte); word-frame ones (``*_word``, ``distance_words``,
  ``word_projected_mass``) are computed on the word-projected maps and are the ones to
  compare across tokenizers. Attention distances are over text keys only (the BOS sink
  is reported as ``sink_score``); contributions come as the norm-based share and the
  additive share ⟨c_h, o⟩/‖o‖² (which sums to 1 with ``bias_additive``);
- ``word_maps.h5`` (written and read by word_maps.py): every probe's maps projected onto words [layer, head, word, word],
  and each word row's projected mass [layer, head, word] (1 − the mass dropped on BOS);
- ``correlations.parquet``: Spearman and Pearson correlations between what a head
  attends to and how much it changes the hidden state, across heads and across
  (probe, layer, head, position) samples.

Queries with a single visible key (the first token; in the word frame, the first word)
are left out of every mean: their row is fixed at 1 and says nothing about the head.
Distances also leave out queries with fewer than two visible text keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from tokattn.attention.projection import project_maps, unit_spans
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import AttentionRecord
from tokattn.attention.word_maps import WordMapWriter
from tokattn.common.model_checks import check_finite_arrays

# Means over token queries (token frame; contributions are per token too).
TOKEN_STATS = (
    "entropy_norm_per_token",
    "distance_tokens",
    "distance_bytes",
    "prev_token_score_per_token",
    "sink_score",
    "contribution_norm_share",
    "contribution_norm",
    "contribution_additive",
    "bias_additive",
    "cosine",
)
# Means over query words of the word-projected maps (tokenizer-independent frame).
WORD_STATS = ("entropy_norm_word", "distance_words", "prev_word_score", "word_projected_mass")
HEAD_STATS = TOKEN_STATS + WORD_STATS
CORRELATION_PAIRS = (
    ("contribution_norm", "entropy_norm_per_token"),
    ("contribution_norm_share", "entropy_norm_per_token"),
    ("contribution_additive", "entropy_norm_per_token"),
    ("contribution_additive", "entropy_norm_word"),
    ("contribution_norm", "distance_bytes"),
    ("contribution_norm", "sink_score"),
    ("contribution_norm", "prev_token_score_per_token"),
    ("contribution_additive", "prev_word_score"),
    ("cosine", "entropy_norm_per_token"),
    ("contribution_norm", "induction_score"),
)


def visible_keys(record: AttentionRecord, add_bos: bool) -> np.ndarray:
    """Return the number of keys each query could attend to [pos] (its window, plus BOS)."""
    q = np.arange(record.n_tokens)
    ws = record.window_start.astype(np.int64)
    return q - ws + 1 + ((ws > 0) & add_bos)


def probe_head_sums(
    record: AttentionRecord, add_bos: bool, maps: np.ndarray | None = None
) -> tuple[dict, dict]:
    """Return per-(layer, head) sums and counts of every token-frame statistic over queries.

    A statistic left undefined at a query (NaN) is not counted: every statistic skips
    queries with one visible key; distances also skip queries with fewer than two visible
    text keys or no attention on text.
    """
    maps = record.attention_maps() if maps is None else maps  # [layer, head, q, k]
    n = record.n_tokens
    keys = visible_keys(record, add_bos)
    use = keys > 1  # [q]
    q_idx = np.arange(n)
    spans = record.byte_spans.astype(np.int64)
    text_key = spans[:, 1] > spans[:, 0]  # [k]; span-less keys (BOS) are the sink
    causal = q_idx[None, :] <= q_idx[:, None]  # [q, k]
    in_window = q_idx[None, :] >= record.window_start[:, None]
    text_keys_visible = (causal & in_window & text_key[None, :]).sum(-1)  # [q]
    dist_tok = (q_idx[:, None] - q_idx[None, :]).clip(0)  # [q, k]
    starts = spans[:, 0]
    dist_bytes = (starts[:, None] - starts[None, :]).clip(0)
    text_maps = maps * text_key  # [layer, head, q, k], sink keys zeroed
    text_mass = text_maps.sum(-1)  # [layer, head, q]
    dist_ok = (text_keys_visible >= 2) & (text_mass > 0)
    safe_mass = np.where(text_mass > 0, text_mass, 1.0)

    def over_text(dist):
        return np.where(dist_ok, (text_maps * dist).sum(-1) / safe_mass, np.nan)

    entropy_norm = record.entropy / np.log(np.maximum(keys, 2))  # [layer, head, q]
    norm_sum = record.head_norm.sum(1, keepdims=True)
    share = np.divide(
        record.head_norm, norm_sum, out=np.zeros_like(record.head_norm), where=norm_sum > 0
    )
    additive, bias_additive = record.additive_shares()
    prev = np.zeros(maps.shape[:3])
    prev[..., 1:] = maps[..., q_idx[1:], q_idx[1:] - 1]
    per_pos = {
        "entropy_norm_per_token": entropy_norm,
        "distance_tokens": over_text(dist_tok),
        "distance_bytes": over_text(dist_bytes),
        "prev_token_score_per_token": prev,
        "sink_score": (maps * ~text_key).sum(-1),
        "contribution_norm_share": share,
        "contribution_norm": record.head_norm,
        "contribution_additive": additive,
        "bias_additive": np.broadcast_to(bias_additive[:, None, :], additive.shape),
        "cosine": record.head_cosine,
    }
    sums, counts = {}, {}
    for k, v in per_pos.items():
        v = np.where(use, v, np.nan)
        sums[k] = np.nansum(v, -1)
        counts[k] = (~np.isnan(v)).sum(-1)
    return sums, counts


def word_head_sums(word_maps: np.ndarray, mass: np.ndarray) -> tuple[dict, int]:
    """Return per-(layer, head) sums of the word-frame statistics, and the number of words.

    `word_maps` [layer, head, word, word] are the projected maps (rows sum to 1),
    `mass` [layer, head, word] each row's projected mass. Word 0 sees only itself and is
    left out (as is every word when the text has one).
    """
    n_words = word_maps.shape[-1]
    if n_words < 2:
        zeros = np.zeros(word_maps.shape[:2])
        return {k: zeros.copy() for k in WORD_STATS}, 0
    w = np.arange(n_words)
    p = word_maps[..., 1:, :].astype(np.float64)  # [layer, head, word >= 1, word]
    entropy = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)).sum(-1)
    dist = (w[1:, None] - w[None, :]).clip(0)
    per_word = {
        "entropy_norm_word": entropy / np.log(w[1:] + 1),
        "distance_words": (p * dist).sum(-1),
        "prev_word_score": word_maps[..., w[1:], w[1:] - 1],
        "word_projected_mass": mass[..., 1:],
    }
    return {k: v.sum(-1) for k, v in per_word.items()}, n_words - 1


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
        self.counts = {k: np.zeros(self.shape, np.int64) for k in TOKEN_STATS}
        self.count = 0
        self.word_count = 0
        self.induction_sum, self.induction_n = np.zeros(self.shape), 0
        self.samples: list[pd.DataFrame] = []

    def add(self, record: AttentionRecord, maps: np.ndarray) -> None:
        probe_sums, probe_counts = probe_head_sums(record, self.add_bos, maps)
        for k, v in probe_sums.items():
            self.sums[k] += v
            self.counts[k] += probe_counts[k]
        keys_visible = visible_keys(record, self.add_bos)
        self.count += int((keys_visible > 1).sum())
        if record.kind == "repeat":
            queries, keys = induction_targets(record)
            if len(queries):
                self.induction_sum += maps[..., queries, keys].sum(-1)
                self.induction_n += len(queries)
        pos = np.nonzero(keys_visible > 1)[0]
        if len(pos):
            n_layers, n_heads = self.shape
            pool = n_layers * n_heads * len(pos)
            draw = self.rng.choice(pool, size=min(self.per_probe, pool), replace=False)
            layer, head, q = np.unravel_index(draw, (n_layers, n_heads, len(pos)))
            qp = pos[q]
            additive, _ = record.additive_shares()
            self.samples.append(
                pd.DataFrame(
                    {
                        "contribution_norm": record.head_norm[layer, head, qp],
                        "contribution_additive": additive[layer, head, qp],
                        "cosine": record.head_cosine[layer, head, qp],
                        "entropy_norm_per_token": record.entropy[layer, head, qp]
                        / np.log(keys_visible[qp]),
                    }
                )
            )

    def add_words(self, word_maps: np.ndarray, mass: np.ndarray) -> None:
        sums, n_words = word_head_sums(word_maps, mass)
        for k, v in sums.items():
            self.sums[k] += v
        self.word_count += n_words

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
                    "n_query_words": self.word_count,
                }
                for k in TOKEN_STATS:
                    n = self.counts[k][layer, head]
                    row[k] = self.sums[k][layer, head] / n if n else np.nan
                for k in WORD_STATS:
                    n = self.word_count
                    row[k] = self.sums[k][layer, head] / n if n else np.nan
                row["induction_score"] = (
                    self.induction_sum[layer, head] / self.induction_n
                    if self.induction_n
                    else np.nan
                )
                row["induction_n_queries"] = self.induction_n
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
                word_maps, mass = project_maps(maps, record.byte_spans, units, with_mass=True)
                acc.add_words(word_maps, mass)
                word_writer.write(
                    record.probe_id, word_maps.astype(np.float32), units, mass.astype(np.float32)
                )
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

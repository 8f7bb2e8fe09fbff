"""Intrinsic tokenizer metrics on the test split, per language, per domain and overall.

All token counts exclude special tokens (``add_special_tokens=False``).

Words, for fertility (tokens per word): in scripts written with spaces a word is a
maximal run of letters, combining marks, digits and connector punctuation (``_``),
so ``don't`` is two words and punctuation, symbols and emoji are none. Scripts written
without spaces between words (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar,
Tibetan) have no such units, so each of their characters (combining marks excluded)
counts as one word.

Rényi efficiency (α = 2.5) follows the ``tokenization-scorer`` package
(Zouhar et al., 2023): H_α(p) / log |V| with p the unigram distribution of the group's
tokens, H_α = log(Σ p^α) / (1 - α), and |V| the number of distinct token types
*observed* in the group (the package's default). ``renyi_efficiency_vocab`` uses the
tokenizer's full vocabulary size instead (the package's ``vocab=`` override).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import regex

from tokattn.common.atomic_files import write_text_atomic
from tokattn.tokenizing.tokenization import METADATA_FILE, load_tokenizer, tokenizer_hash

log = logging.getLogger(__name__)

RENYI_ALPHA = 2.5
PARITY_REFERENCE = "en"
NO_SPACE_SCRIPTS = ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan")
_NO_SPACE = "".join(rf"\p{{{s}}}" for s in NO_SPACE_SCRIPTS)
WORD_RE = regex.compile(
    rf"[[{_NO_SPACE}]--\p{{M}}]|[[\p{{L}}\p{{M}}\p{{N}}\p{{Pc}}]--[{_NO_SPACE}]]+", regex.V1
)
LEVELS = (
    ("language", ("language",)),
    ("domain", ("domain",)),
    ("language_domain", ("language", "domain")),
)

UNITS = {
    "n_docs": "documents",
    "n_bytes": "UTF-8 bytes",
    "n_chars": "Unicode code points",
    "n_words": "word units (see notes.words)",
    "n_tokens": "tokens, special tokens excluded",
    "n_types": "distinct token ids used",
    "bytes_per_token": "UTF-8 bytes per token (per token; higher = more compression)",
    "chars_per_token": "code points per token (per token)",
    "fertility": "tokens per word (per word; lower = fewer splits)",
    "unk_rate": "share of tokens that are <unk> (per token)",
    "vocab_utilisation": "share of the vocabulary used at least once in the group",
    "renyi_efficiency": "Rényi entropy (α=2.5) / log(observed types), in [0, 1] (per token distribution)",
    "renyi_efficiency_vocab": "Rényi entropy (α=2.5) / log(vocabulary size) (per token distribution)",
    "roundtrip_fidelity": "share of documents with decode(encode(x)) == x (per document)",
    "parity": "tokens(language) / tokens(en) on parallel text (per parallel text)",
}
PER_TOKEN = [
    "bytes_per_token",
    "chars_per_token",
    "unk_rate",
    "renyi_efficiency",
    "renyi_efficiency_vocab",
]
NOTES = {
    "tokens": "Token counts exclude special tokens (add_special_tokens=False).",
    "words": (
        "Fertility = tokens / words. Spaced scripts: a word is a maximal run of letters, "
        "combining marks, digits and '_' (regex [\\p{L}\\p{M}\\p{N}\\p{Pc}]+); punctuation, "
        "symbols and emoji are not words. Scripts without spaces ("
        + ", ".join(NO_SPACE_SCRIPTS)
        + "): every character except combining marks counts as one word."
    ),
    "renyi": (
        "renyi_efficiency matches tokenization_scorer.score(metric='renyi', power=2.5): "
        "H_2.5 of the group's unigram token distribution divided by log of the number of "
        "distinct token types observed in the group; renyi_efficiency_vocab divides by log "
        "of the full vocabulary size instead. Undefined (null) with fewer than 2 types."
    ),
    "roundtrip": (
        "decode(encode(x), skip_special_tokens=True, clean_up_tokenization_spaces=False) == x."
    ),
    "groups": "level overall/language/domain/language_domain; 'all' marks an aggregated key.",
}


def count_words(text: str) -> int:
    """Return the number of word units in `text` (see the module docstring)."""
    return sum(1 for _ in WORD_RE.finditer(text))


def renyi_efficiency(counts: np.ndarray, alpha: float = RENYI_ALPHA, vocab_size: int | None = None):
    """Return H_α(p) / log|V| for token counts (|V| = observed types unless given); None if undefined."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    n_types = len(counts) if vocab_size is None else vocab_size
    if len(counts) == 0 or n_types < 2:
        return None
    p = counts / counts.sum()
    if alpha == 1.0:
        entropy = -np.sum(p * np.log2(p))
    else:
        entropy = np.log2(np.sum(p**alpha)) / (1.0 - alpha)
    return float(entropy / np.log2(n_types))


def _ratio(num, den):
    return float(num) / float(den) if den else None


def _group_record(level, language, domain, docs: pd.DataFrame, ids: np.ndarray, unk_id, vocab_size):
    types, type_counts = np.unique(ids, return_counts=True)
    n_tokens = int(len(ids))
    return {
        "level": level,
        "language": language,
        "domain": domain,
        "n_docs": int(len(docs)),
        "n_bytes": int(docs["n_bytes"].sum()),
        "n_chars": int(docs["n_chars"].sum()),
        "n_words": int(docs["n_words"].sum()),
        "n_tokens": n_tokens,
        "n_types": int(len(types)),
        "bytes_per_token": _ratio(docs["n_bytes"].sum(), n_tokens),
        "chars_per_token": _ratio(docs["n_chars"].sum(), n_tokens),
        "fertility": _ratio(n_tokens, docs["n_words"].sum()),
        "unk_rate": _ratio(int(np.count_nonzero(ids == unk_id)), n_tokens)
        if unk_id is not None
        else 0.0,
        "vocab_utilisation": _ratio(len(types), vocab_size),
        "renyi_efficiency": renyi_efficiency(type_counts),
        "renyi_efficiency_vocab": renyi_efficiency(type_counts, vocab_size=vocab_size),
        "roundtrip_fidelity": _ratio(int(docs["roundtrip"].sum()), len(docs)),
    }


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    backend = tokenizer.backend_tokenizer
    return [enc.ids for enc in backend.encode_batch(texts, add_special_tokens=False)]


def parity_scores(
    tokenizer, parallel_texts: Mapping[str, str], reference: str = PARITY_REFERENCE
) -> dict:
    """Return per language {n_tokens, n_bytes, parity = tokens(lang) / tokens(reference)}."""
    if reference not in parallel_texts:
        raise ValueError(f"parallel texts have no reference language {reference!r}")
    langs = sorted(parallel_texts)
    token_ids = _encode(tokenizer, [parallel_texts[lang] for lang in langs])
    n_ref = len(token_ids[langs.index(reference)])
    return {
        lang: {
            "n_tokens": len(ids),
            "n_bytes": len(parallel_texts[lang].encode("utf-8")),
            "parity": _ratio(len(ids), n_ref),
        }
        for lang, ids in zip(langs, token_ids, strict=True)
    }


def tokenizer_metrics(
    tokenizer, test_df: pd.DataFrame, parallel_texts: Mapping[str, str] | None
) -> dict:
    """Return the metrics dict: `groups` (one record per overall/language/domain/pair) and `parity`."""
    docs = pd.DataFrame(
        {
            "language": test_df["language"].astype(str) if "language" in test_df else "unknown",
            "domain": test_df["domain"].astype(str) if "domain" in test_df else "unknown",
        },
        index=range(len(test_df)),
    )
    texts = [str(t) for t in test_df["text"]]
    token_ids = _encode(tokenizer, texts)
    decoded = tokenizer.batch_decode(
        token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
    )
    docs["n_bytes"] = [len(t.encode("utf-8")) for t in texts]
    docs["n_chars"] = [len(t) for t in texts]
    docs["n_words"] = [count_words(t) for t in texts]
    docs["n_tokens"] = [len(ids) for ids in token_ids]
    docs["roundtrip"] = [d == t for d, t in zip(decoded, texts, strict=True)]
    all_ids = np.fromiter((i for ids in token_ids for i in ids), dtype=np.int64)
    doc_of_token = np.repeat(np.arange(len(docs)), docs["n_tokens"].to_numpy())
    vocab_size, unk_id = len(tokenizer), tokenizer.unk_token_id

    groups = [_group_record("overall", "all", "all", docs, all_ids, unk_id, vocab_size)]
    for level, keys in LEVELS:
        grouped = docs.groupby(list(keys), sort=True)
        # Sort token positions by group once per level, then slice each group's tokens.
        token_group = grouped.ngroup().to_numpy()[doc_of_token]
        order = np.argsort(token_group, kind="stable")
        bounds = np.searchsorted(token_group[order], np.arange(grouped.ngroups + 1))
        for g, (key, sub) in enumerate(grouped):
            labels = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            ids = all_ids[order[bounds[g] : bounds[g + 1]]]
            groups.append(
                _group_record(
                    level,
                    labels.get("language", "all"),
                    labels.get("domain", "all"),
                    sub,
                    ids,
                    unk_id,
                    vocab_size,
                )
            )

    notes = dict(NOTES)
    parity = None
    if parallel_texts:
        if PARITY_REFERENCE in parallel_texts:
            parity = {
                "reference_language": PARITY_REFERENCE,
                "languages": parity_scores(tokenizer, parallel_texts),
            }
            notes["parity"] = (
                "tokens(language) / tokens(en) on parallel text, computed once per language "
                "(not per domain)."
            )
        else:
            notes["parity"] = "parity omitted: the parallel texts have no English ('en') reference."
    else:
        notes["parity"] = "parity omitted: no parallel texts were available."
    return {
        "format_version": 1,
        "vocab_size": vocab_size,
        "renyi_alpha": RENYI_ALPHA,
        "groups": groups,
        "parity": parity,
        "units": UNITS,
        "per_token": PER_TOKEN,
        "notes": notes,
    }


def _builtin_parallel_texts() -> tuple[dict[str, str] | None, str | None]:
    """Return the built-in parallel texts and a note on their source, or None and why not."""
    try:
        from tokattn.corpus.builtin_text import BuiltinTextMissing
        from tokattn.tokenizing.parallel_text import parallel_texts, parallel_texts_provenance
    except ImportError as exc:
        return (
            None,
            f"parity omitted: tokattn.tokenizing.parallel_text.parallel_texts is unavailable ({exc}).",
        )
    try:
        texts = parallel_texts()
    except BuiltinTextMissing as exc:
        return None, f"parity omitted: the built-in parallel text is missing ({exc})."
    source = (
        f"Parallel text: {parallel_texts_provenance()} ({len(texts['en'].splitlines())} "
        f"UI messages in {len(texts)} languages; BSD-3-Clause)."
    )
    return texts, source


def compute_tokenizer_metrics(
    tokenizer_dir: str | Path,
    test_parquet: str | Path,
    out_json: str | Path,
    parallel_texts: Mapping[str, str] | None = None,
) -> dict:
    """Compute the metrics of the tokenizer in `tokenizer_dir` on the test split, write JSON, return it.

    Without `parallel_texts`, parity uses the built-in parallel text from Django's
    translation catalogs (`tokattn.tokenizing.parallel_text.parallel_texts`) when it is available.
    """
    folder = Path(tokenizer_dir)
    folder = folder.parent if folder.name == "tokenizer.json" else folder
    tokenizer = load_tokenizer(folder)
    columns = [c for c in ("text", "language", "domain") if c in _parquet_columns(test_parquet)]
    if "text" not in columns:
        raise ValueError(f"{test_parquet}: no 'text' column")
    test_df = pd.read_parquet(test_parquet, columns=columns)
    parity_note = None
    if parallel_texts is None:
        parallel_texts, parity_note = _builtin_parallel_texts()
    metrics = tokenizer_metrics(tokenizer, test_df, parallel_texts)
    if parity_note and metrics["parity"]:
        metrics["notes"]["parity"] += " " + parity_note
    elif parity_note:
        metrics["notes"]["parity"] = parity_note
    meta_path = folder / METADATA_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    metrics = {
        "tokenizer": meta.get("name", folder.name),
        "kind": meta.get("kind"),
        "tokenizer_dir": str(folder),
        "tokenizer_sha256": tokenizer_hash(folder),
        "test_parquet": str(test_parquet),
        **metrics,
    }
    write_text_atomic(out_json, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    overall = metrics["groups"][0]
    log.info(
        "tokenizer %s: %d test documents, %.3f bytes/token, fertility %s -> %s",
        metrics["tokenizer"],
        overall["n_docs"],
        overall["bytes_per_token"] or 0.0,
        overall["fertility"],
        out_json,
    )
    return metrics


def _parquet_columns(path: str | Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).schema_arrow.names


def _parity_of(parity: Mapping | None, language: str):
    if not parity or language == "all":
        return None
    langs = parity["languages"]
    base = regex.split(r"[_-]", language, maxsplit=1)[0]
    entry = langs.get(language) or langs.get(base)
    return entry["parity"] if entry else None


def metrics_table(metrics_json_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Return one row per tokenizer × language × domain (overall rows use 'all') from metrics.json files."""
    rows = []
    for path in metrics_json_paths:
        with open(path, encoding="utf-8") as fh:
            metrics = json.load(fh)
        for group in metrics["groups"]:
            row = {
                "tokenizer": metrics.get("tokenizer", Path(path).parent.name),
                "kind": metrics.get("kind"),
                "vocab_size": metrics.get("vocab_size"),
                **group,
            }
            row["parity"] = (
                _parity_of(metrics.get("parity"), group["language"])
                if group["domain"] == "all"
                else None
            )
            rows.append(row)
    return pd.DataFrame(rows)


def write_metrics_table(
    metrics_json_paths: Iterable[str | Path], out_csv: str | Path
) -> pd.DataFrame:
    """Write `metrics_table(...)` to `out_csv` atomically and return it."""
    table = metrics_table(metrics_json_paths)
    write_text_atomic(out_csv, table.to_csv(index=False))
    return table

"""The report's generated text: budget, data mix, seeds, arms and caveats, as plain sentences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

# Below this many training bytes a model is a smoke test of the pipeline, not a result.
SMOKE_BUDGET_BYTES = 50_000_000


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _shares(counts: Mapping[str, Mapping], top: int) -> str:
    total = sum(c["bytes"] for c in counts.values()) or 1
    items = sorted(counts.items(), key=lambda kv: (-kv[1]["bytes"], kv[0]))
    parts = [f"{name} {100 * c['bytes'] / total:.1f} %" for name, c in items[:top]]
    rest = len(items) - top
    if rest > 0:
        share = sum(c["bytes"] for _, c in items[top:]) / total
        parts.append(f"{rest} others {100 * share:.1f} %")
    return ", ".join(parts)


def summary_sentences(
    config: Mapping,
    stats: Mapping,
    train_summaries: Sequence[Mapping],
    summary: pd.DataFrame | None,
) -> list[str]:
    """Return the text section's sentences (plain text; the page escapes them)."""
    out = []
    training = config.get("training") or {}
    arms = config.get("models") or []
    seeds = config.get("seeds") or [0]
    budget = training.get("budget_bytes")
    train = stats["splits"]["train"]
    out.append(
        f"Experiment '{config.get('experiment', '')}': {len(arms)} trained arm(s) × "
        f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))})"
        + (
            f", plus {len(config.get('pretrained') or [])} pretrained arm(s)."
            if config.get("pretrained")
            else "."
        )
    )
    if budget:
        out.append(
            f"Training budget: {_bytes(budget)} of UTF-8 text per run (the same for every "
            "tokenizer), context in bytes per arm; all LM numbers are bits per byte."
        )
    out.append(
        f"Training data: {_bytes(train['bytes'])} in {train['documents']} documents. By domain: "
        f"{_shares(train['by_domain'], 8)}. By language: {_shares(train['by_language'], 8)}."
    )
    for arm in arms:
        runs = [s for s in train_summaries if s.get("model") == arm["name"]]
        params = runs[0].get("params", {}) if runs else {}
        seen = [s["bytes_seen"] for s in runs if s.get("bytes_seen")]
        branch = params.get("byte_branch") or (runs[0].get("byte_branch_params") if runs else None)
        parts = [
            f"Arm {arm['name']}: tokenizer {arm.get('tokenizer')}",
            f"{arm.get('n_layers', '?')} layers × {arm.get('n_heads', '?')} heads",
            f"d_model {arm.get('d_model', '?')}",
            f"context {arm['context_bytes']} bytes"
            if arm.get("context_bytes")
            else f"context {arm.get('context_tokens', '?')} tokens",
        ]
        if params.get("non_embedding"):
            parts.append(f"{params['non_embedding']:,} non-embedding parameters")
        if arm.get("byte_branch"):
            parts.append(
                "a byte-level branch"
                + (f" ({branch:,} parameters, counted apart)" if branch else "")
            )
        if seen:
            parts.append(f"{_bytes(min(seen))} to {_bytes(max(seen))} of text seen per seed")
        out.append(", ".join(parts) + ".")
    out.extend(caveats(config, summary))
    return out


def caveats(config: Mapping, summary: pd.DataFrame | None) -> list[str]:
    """Return the caveats that apply to this run (small budget, few seeds, zero metrics)."""
    out = []
    budget = (config.get("training") or {}).get("budget_bytes") or 0
    if config.get("models") and budget < SMOKE_BUDGET_BYTES:
        out.append(
            f"Caveat: a training budget of {_bytes(budget)} makes tiny models; they score at "
            "or near chance, so read the benchmarks as a check that the pipeline runs, not "
            "as a comparison of tokenizers."
        )
    if len(config.get("seeds") or [0]) < 3:
        out.append(
            "Caveat: fewer than three seeds; the 95 % confidence intervals (t-interval over "
            "seeds, t(0.975, 1) = 12.7 with two seeds) are very wide and seed-to-seed "
            "variation is poorly estimated: not a CI worth reading."
        )
    if summary is not None and len(summary):
        overall = summary
        for column in ("subtask", "language", "domain", "distance_bytes"):
            overall = overall[overall[column].astype(str) == "all"]
        for (task, metric), rows in overall.groupby(["task", "metric"]):
            if (rows["ci_high"] == 0).all():
                out.append(f"Caveat: {task} {metric} is 0 for every model (no item solved).")
    out.append(
        "Per-token quantities (train loss, token perplexity, attention distance in tokens) "
        "are labelled per token and are not comparable across tokenizers; bytes, bits per "
        "byte and word-level maps are."
    )
    return out

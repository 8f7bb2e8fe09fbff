"""The report's tables: corpus, tokenizers and training runs as DataFrames, and their HTML.

`page.build_page` places them; each takes the loaded result files (stats.json, the
tokenizer metrics, the training summaries) and returns a DataFrame or HTML text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd


def escape_html(text) -> str:
    return html.escape(str(text))


def table_html(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """Return an escaped HTML table of `df` (floats formatted, no index)."""
    if df is None or df.empty:
        return '<p class="note">(no rows)</p>'
    head = "".join(f"<th>{escape_html(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                value = "" if pd.isna(value) else floatfmt.format(value)
            cells.append(f"<td>{escape_html(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    # A wide table scrolls inside its own box instead of widening the page.
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def corpus_table(stats: Mapping) -> pd.DataFrame:
    """Return bytes per domain (rows) and split (columns), with totals."""
    splits = stats["splits"]
    domains = sorted({d for s in splits.values() for d in s["by_domain"]})
    rows = [
        {
            "domain": d,
            **{
                f"{name} bytes": s["by_domain"].get(d, {}).get("bytes", 0)
                for name, s in splits.items()
            },
        }
        for d in domains
    ]
    rows.append({"domain": "total", **{f"{name} bytes": s["bytes"] for name, s in splits.items()}})
    return pd.DataFrame(rows)


def tokenizer_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Return the overall (whole test split) row of each tokenizer."""
    columns = [
        "tokenizer",
        "kind",
        "vocab_size",
        "bytes_per_token",
        "fertility",
        "renyi_efficiency",
        "unk_rate",
        "roundtrip_fidelity",
    ]
    rows = metrics[metrics["level"] == "overall"]
    return rows[[c for c in columns if c in rows.columns]].rename(
        columns={"fertility": "fertility (tokens/word)"}
    )


# Why a tokenizer can score low on roundtrip_fidelity without a bug: the measure is exact
# string equality per document, and some tokenizers cannot give the text back.
ROUNDTRIP_REASONS = {
    "wordpiece": (
        "WordPiece splits on whitespace and punctuation and keeps neither the whitespace "
        "nor whether punctuation touched the word before it; its decoder joins tokens "
        'with one space ("Hello, world.⏎" comes back as "Hello , world ."), and '
        "characters outside its vocabulary become [UNK], dropped on decoding. Nearly every "
        "document with punctuation, a newline or a double space fails, so its round-trip "
        "fidelity is close to 0 by construction: the text it models is not the text it "
        "was given."
    ),
}


def roundtrip_note(tokenizers: pd.DataFrame) -> str:
    """Return a note explaining low round-trip fidelity of lossy tokenizer kinds ('' if none)."""
    if "roundtrip_fidelity" not in tokenizers or "kind" not in tokenizers:
        return ""
    notes = []
    for kind, reason in ROUNDTRIP_REASONS.items():
        rows = tokenizers[(tokenizers["kind"] == kind) & (tokenizers["roundtrip_fidelity"] < 1)]
        if len(rows):
            names = ", ".join(
                f"{t} ({v:.3g})"
                for t, v in zip(rows["tokenizer"], rows["roundtrip_fidelity"], strict=True)
            )
            notes.append(f"Round-trip fidelity of {names}: {reason}")
    lead = "roundtrip_fidelity: share of test documents with decode(encode(x)) == x exactly. "
    return "".join(f'<p class="note">{escape_html(lead + n)}</p>' for n in notes)


def training_table(train_summaries: Sequence[Mapping]) -> pd.DataFrame:
    """Return one row per training run: parameters, bytes and tokens seen, final val bpb."""
    rows = [
        {
            "model": s.get("model"),
            "seed": s.get("seed"),
            "tokenizer": s.get("tokenizer"),
            "non-embedding params": (s.get("params") or {}).get("non_embedding"),
            "bytes seen": s.get("bytes_seen"),
            "tokens seen": s.get("tokens_seen"),
            "bytes per token (train)": s.get("train_bytes_per_token"),
            "final val bits/byte": s.get("final_val_bpb"),
        }
        for s in train_summaries
    ]
    return pd.DataFrame(rows)

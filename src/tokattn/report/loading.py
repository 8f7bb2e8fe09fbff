"""Read the result files the report draws from, with errors that name the file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd


class ReportInputError(ValueError):
    """A result file the report needs is missing or malformed; the message names it."""


def load_json(path: str | Path) -> dict:
    """Return the JSON object in `path`."""
    path = Path(path)
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file (run the stage that writes it)") from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc})") from exc


def load_table(path: str | Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Return a CSV or Parquet table, checking that the `required` columns are present."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file (run the stage that writes it)")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def load_probes(path: str | Path) -> list[dict]:
    """Return the probe objects of probes.jsonl in file order."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file (run the attention stage)")
    probes = []
    # "\n" only: str.splitlines() also splits on U+2028/U+2029/U+0085 inside a text.
    for n, line in enumerate(path.read_text("utf-8").split("\n"), 1):
        if line.strip():
            try:
                probes.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReportInputError(f"{path}:{n}: not valid JSON ({exc})") from exc
    return probes


def corpus_bytes(stats: Mapping, split: str = "train") -> pd.DataFrame:
    """Return [language, domain, documents, bytes] of one split of corpus/stats.json."""
    try:
        cells = stats["splits"][split]["by_language_domain"]
    except KeyError as exc:
        raise ReportInputError(f"corpus stats: no key {exc} (splits.{split})") from None
    rows = [
        {"language": lang, "domain": dom, "documents": c["documents"], "bytes": c["bytes"]}
        for lang, by_domain in cells.items()
        for dom, c in by_domain.items()
    ]
    return pd.DataFrame(rows, columns=["language", "domain", "documents", "bytes"])


def top_languages(df: pd.DataFrame, n: int, weight: str = "bytes") -> list[str]:
    """Return the `n` languages with the largest summed `weight` (ties by name)."""
    totals = df.groupby("language")[weight].sum().reset_index()
    totals = totals.sort_values([weight, "language"], ascending=[False, True])
    return totals["language"].head(n).tolist()


def train_logs(runs: Sequence[tuple[str, int, str | Path]]) -> pd.DataFrame:
    """Return every train_log.csv of (model, seed, path) runs stacked, with model and seed."""
    frames = []
    for model, seed, path in runs:
        df = load_table(path, required=("step", "bytes", "loss", "val_bpb"))
        frames.append(df.assign(model=model, seed=int(seed)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def stack_tables(paths: Iterable[str | Path], required: Iterable[str] = ()) -> pd.DataFrame:
    """Return the rows of several tables of the same kind, one after the other."""
    frames = [load_table(p, required) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def select_probe(probes: Sequence[Mapping], probe_id: str | None, kind: str) -> dict:
    """Return the probe named `probe_id`, or else the first probe of `kind` (else the first)."""
    if not probes:
        raise ReportInputError("the probe set is empty: nothing to draw attention for")
    if probe_id:
        for probe in probes:
            if probe["id"] == probe_id:
                return dict(probe)
        raise ReportInputError(
            f"config key 'report.probe_id': no probe {probe_id!r} in the probe set "
            f"(have e.g. {', '.join(p['id'] for p in probes[:5])})"
        )
    for probe in probes:
        if probe.get("kind") == kind:
            return dict(probe)
    return dict(probes[0])

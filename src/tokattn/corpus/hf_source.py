"""Corpus sources of type `hf`: anything `datasets.load_dataset` reads.

Local builders (text, json, parquet, csv) read `data_files` one file at a time, so
every error names the file (and, for text, the row). Text-like files are checked for
UTF-8 before `datasets` sees them: `datasets` would fail without saying where, and the
`replace`/`skip` policies need to count what they change. A hub id is read only when
the source says `hub: true`; config validation enforces that, and so does this module.
"""

from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import json
import logging
import lzma
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCAL_BUILDERS = frozenset({"text", "json", "parquet", "csv"})
# Builders whose files are text: checked for UTF-8 and cleaned per on_decode_error.
TEXT_BUILDERS = frozenset({"text", "json", "csv"})
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SCAN_CHUNK_BYTES = 8 << 20
_BATCH_ROWS = 4096


class CorpusError(ValueError):
    """Corpus input is unusable; the message names the source and the file."""


def _open_binary(path: Path):
    return _OPENERS.get(path.suffix, open)(path, "rb")


def first_invalid_utf8_offset(path: Path) -> int | None:
    """Return the byte offset of the first byte of `path` that is not valid UTF-8, or None.

    For a compressed file (.gz, .bz2, .xz) the offset is into the decompressed stream.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    consumed = 0  # bytes handed to the decoder so far
    with _open_binary(path) as fh:
        while True:
            chunk = fh.read(_SCAN_CHUNK_BYTES)
            final = not chunk
            try:
                decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's pending bytes + this chunk.
                pending = len(exc.object) - len(chunk)
                return consumed - pending + exc.start
            consumed += len(chunk)
            if final:
                return None


def _cleaned_copy(path: Path, policy: str, tmp_dir: Path) -> tuple[Path, int]:
    """Write `path` with undecodable lines replaced (U+FFFD) or dropped; return (copy, lines changed)."""
    suffix = path.suffix if path.suffix not in _OPENERS else Path(path.stem).suffix
    out = Path(tempfile.mkstemp(dir=tmp_dir, prefix=f"{path.stem}.", suffix=suffix)[1])
    changed = 0
    with _open_binary(path) as src, open(out, "wb") as dst:
        for line in src:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                changed += 1
                if policy == "skip":
                    continue
                line = line.decode("utf-8", errors="replace").encode("utf-8")
            dst.write(line)
    return out, changed


def data_file_paths(source: dict) -> list[str]:
    """Return the files of a local source's `data_files` as the config writes them: globs
    expanded (sorted, files only), relative paths kept relative to the working directory.

    The workflow's input function (rules/common.smk) and the reader both use it, so the
    files Snakemake tracks are the files read. Raises CorpusError naming the source for a
    pattern that matches nothing or a file that does not exist.
    """
    data_files = source["data_files"]
    patterns = [data_files] if isinstance(data_files, str) else list(data_files)
    files: list[str] = []
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if any(ch in pattern for ch in "*?["):
            matches = [m for m in glob.glob(expanded, recursive=True) if os.path.isfile(m)]
            if not matches:
                raise CorpusError(
                    f"source {source['name']!r}: data_files pattern {pattern!r} matches no file"
                )
            files.extend(sorted(matches, key=Path))
        elif not os.path.isfile(expanded):
            where = Path(expanded) if os.path.isabs(expanded) else Path.cwd() / expanded
            raise CorpusError(f"source {source['name']!r}: file {pattern!r} not found ({where})")
        else:
            files.append(expanded)
    return files


def resolve_data_files(source: dict) -> list[Path]:
    """Return the local files of a source (globs expanded, relative to the working directory)."""
    return [Path.cwd() / path for path in data_file_paths(source)]


def _load(source: dict, where: str, **kwargs):
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(
            source["path"], name=source.get("config_name"), split=source["split"], **kwargs
        )
    except ValueError as exc:
        if "corresponds to no data" in str(exc):  # e.g. a CSV with only its header
            return None
        raise CorpusError(f"source {source['name']!r}: {where}: could not be read: {exc}") from exc
    except Exception as exc:  # datasets wraps parser errors in its own exception types
        cause = exc.__cause__ or exc
        raise CorpusError(
            f"source {source['name']!r}: {where}: could not be read by datasets builder "
            f"{source['path']!r}: {type(cause).__name__}: {cause}"
        ) from exc


def _string_column(source: dict, where: str, batch, field: str, first_row: int) -> list:
    """Return a column of a pyarrow batch as Python strings; raise naming the first bad row."""
    import pyarrow as pa

    column = batch.column(field)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = column.to_pylist()
        if column.null_count == 0:
            return values
        bad = next(i for i, v in enumerate(values) if v is None)
        raise CorpusError(
            f"source {source['name']!r}: {where}: row {first_row + bad} (0-based): "
            f"field {field!r} is null, expected a string"
        )
    if getattr(column.type, "extension_name", None) == "arrow.json":
        # `datasets` stores a JSON field whose rows mix types as JSON text: decode it, so
        # that string rows read as before and the error names the first row that is not.
        values = [None if v is None else json.loads(v) for v in column.to_pylist()]
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is None:
            return values
        shown = repr(values[bad])
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise CorpusError(
            f"source {source['name']!r}: {where}: row {first_row + bad} (0-based): field "
            f"{field!r} holds {type(values[bad]).__name__} {shown}, expected a string"
        )
    value = column[0].as_py() if len(column) else None
    raise CorpusError(
        f"source {source['name']!r}: {where}: row {first_row} (0-based): field {field!r} "
        f"holds {type(value).__name__} values ({column.type}), expected strings"
    )


def _iter_rows(source: dict, ds, where: str) -> Iterator[tuple[str, str]]:
    text_field = source["text_field"]
    language_field = source.get("language_field") if source["language"] == "auto" else None
    columns = list(ds.column_names or [])
    for field in filter(None, (text_field, language_field)):
        if field not in columns:
            kind = "text field" if field == text_field else "language_field"
            raise CorpusError(
                f"source {source['name']!r}: {where}: no {kind} {field!r}; "
                f"available columns: {', '.join(columns) or '(none)'}"
            )
    row = 0
    needed = [text_field] + ([language_field] if language_field else [])
    for batch in ds.select_columns(needed).with_format("arrow").iter(batch_size=_BATCH_ROWS):
        texts = _string_column(source, where, batch, text_field, row)
        if language_field:
            languages = _string_column(source, where, batch, language_field, row)
            yield from zip(texts, languages, strict=True)
        else:
            language = source["language"]
            for text in texts:
                yield text, language
        row += batch.num_rows


def iter_hf_documents(source: dict, counts: dict) -> Iterator[tuple[str, str]]:
    """Yield (text, language) of every row of an hf source; add decode counts to `counts`."""
    name = source["name"]
    if source["path"] not in LOCAL_BUILDERS:
        if not source.get("hub"):
            raise CorpusError(
                f"source {name!r}: path {source['path']!r} is a hub dataset and hub is not true"
            )
        kwargs = {"data_files": source["data_files"]} if "data_files" in source else {}
        ds = _load(source, f"hub dataset {source['path']!r}", **kwargs)
        if ds is not None:
            yield from _iter_rows(source, ds, f"hub dataset {source['path']!r}")
        return
    files = resolve_data_files(source)
    policy = source["on_decode_error"]
    # A private cache: conversions of local files are not worth keeping, and a shared
    # cache would serve a stale table if a file changed within its mtime resolution.
    with tempfile.TemporaryDirectory(prefix="tokattn-corpus-") as tmp:
        tmp_dir = Path(tmp)
        for path in files:
            where = f"file {path}"
            read_path = path
            if source["path"] in TEXT_BUILDERS:
                offset = first_invalid_utf8_offset(path)
                if offset is not None:
                    if policy == "error":
                        of = " of the decompressed data" if path.suffix in _OPENERS else ""
                        raise CorpusError(
                            f"source {name!r}: {where}: not valid UTF-8 at byte offset "
                            f"{offset}{of} (set on_decode_error: replace or skip to accept it)"
                        )
                    read_path, changed = _cleaned_copy(path, policy, tmp_dir)
                    key = "decode_replaced" if policy == "replace" else "decode_skipped"
                    counts[key] = counts.get(key, 0) + changed
                    log.warning(
                        "source %s: %s: %s %d lines with invalid UTF-8 (first at byte %d)",
                        name,
                        where,
                        "replaced" if policy == "replace" else "skipped",
                        changed,
                        offset,
                    )
            if read_path.stat().st_size == 0:
                continue
            ds = _load(
                source,
                where,
                data_files={source["split"]: [str(read_path)]},
                cache_dir=str(tmp_dir / "cache"),
            )
            if ds is not None:
                yield from _iter_rows(source, ds, where)

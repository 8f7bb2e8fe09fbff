"""Write the small corpus fixtures in this folder (run once; the outputs are committed).

python tests/data/corpus/make_fixtures.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

# Decomposed e + COMBINING ACUTE ACCENT: NFC turns it into U+00E9.
DECOMPOSED = "Cafe\u0301 au lait is served in the morning."
TEXT_LINES = [
    "The first line of the plain text fixture.",
    DECOMPOSED,
    "A line that appears twice in this file.",
    "A line that appears twice in this file.",
    "short",
    "",
    "Ünïcödé line with multi-byte characters: Привет, мир! 你好",
]
RECORDS = [
    {"text": "JSON record one talks about rivers and mountains.", "lang": "en"},
    {"text": "Запись JSON номер два рассказывает о реках.", "lang": "ru"},
    {"text": "JSON記録その三は山と川について語ります。", "lang": "ja"},
    {"text": "tiny", "lang": "en"},
]
CSV_ROWS = [
    {"id": "1", "body": "CSV row one, with a comma inside quotes.", "lang": "en"},
    {"id": "2", "body": "CSV row two\nspans two lines.", "lang": "en"},
    {"id": "3", "body": "Fila tres del CSV, en español.", "lang": "es"},
]
PARQUET_ROWS = [
    {"text": "Parquet row one is stored in columnar form.", "lang": "en", "n": 1},
    {"text": "Parquet-Zeile zwei ist auf Deutsch geschrieben.", "lang": "de", "n": 2},
]
# The first invalid byte (0xFF) is at byte offset len(BAD_PREFIX.encode()).
BAD_PREFIX = "good line one\ngood line two, ünïcödé\nthird line has a bad byte: "
BAD_BYTES = (
    BAD_PREFIX.encode("utf-8")
    + b"\xff here\nfourth line is fine\nfifth line \xfe\xfe also bad\nlast good line\n"
)


def main() -> None:
    (HERE / "docs.txt").write_text("\n".join(TEXT_LINES) + "\n", encoding="utf-8")
    with open(HERE / "docs.jsonl", "w", encoding="utf-8") as fh:
        for rec in RECORDS:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with open(HERE / "docs.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "body", "lang"])
        writer.writeheader()
        writer.writerows(CSV_ROWS)
    pq.write_table(pa.Table.from_pylist(PARQUET_ROWS), HERE / "docs.parquet")
    (HERE / "bad_utf8.txt").write_bytes(BAD_BYTES)
    (HERE / "empty.txt").write_bytes(b"")
    (HERE / "header_only.csv").write_text("id,text\n", encoding="utf-8")
    with open(HERE / "no_text_field.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"body": "text under another name", "lang": "en"}) + "\n")
    with open(HERE / "null_text.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "a first row that is fine"}) + "\n")
        fh.write(json.dumps({"text": "a second row that is fine"}) + "\n")
        fh.write(json.dumps({"text": None}) + "\n")
    with open(HERE / "int_text.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": 12345}) + "\n")


if __name__ == "__main__":
    main()

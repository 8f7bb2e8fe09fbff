"""U+2028, U+2029 and U+0085 inside a text are characters, not line ends, in every JSONL reader."""

from __future__ import annotations

import json

from tests.tiny_models import write_corpus_parquet
from tokattn.attention.dump import iter_probes
from tokattn.attention.probes import build_probes
from tokattn.evaluation.tasks.files import read_choice_file
from tokattn.evaluation.tasks.items import read_jsonl
from tokattn.report.loading import load_probes

SEPARATORS = "A line\u2028separator, a paragraph\u2029separator and a next-line\u0085mark here."


def test_probes_with_unicode_line_separators_load_everywhere(tmp_path):
    test = write_corpus_parquet(tmp_path / "test.parquet", [SEPARATORS * 2], language="en")
    probes_path = tmp_path / "probes.jsonl"
    built = build_probes(test, probes_path, {"simple": False, "stress_kinds": [], "max_bytes": 96})
    assert "\u2028" in built[0]["text"] and "\u0085" in built[0]["text"]
    # json.dumps(ensure_ascii=False) writes the three characters raw.
    assert "\u2028" in probes_path.read_text("utf-8")
    assert load_probes(probes_path) == built  # the report rules' reader
    assert list(iter_probes(probes_path)) == built  # the dump's reader


def test_task_files_with_unicode_line_separators(tmp_path):
    row = {"question": SEPARATORS, "choices": ["yes\u2029", "no"], "answer": 0}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    items = read_choice_file(path, "toy")
    assert len(items) == 1 and SEPARATORS in items[0].context
    assert list(read_jsonl(path)) == [row]

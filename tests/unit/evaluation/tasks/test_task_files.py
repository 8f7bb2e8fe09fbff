"""Task files: BIG-bench task.json and JSONL read into items; bad files fail by name and line."""

from __future__ import annotations

import json

import pytest

from tokattn.evaluation.tasks.build import write_items
from tokattn.evaluation.tasks.files import TaskFileError, read_choice_file, read_summary_file

GOOD_JSONL = [
    {"question": "2 + 2 = ?", "choices": ["3", "4", "5"], "answer": 1},
    {"question": "Capital of France?", "choices": ["Paris", "Rome"], "answer": "Paris"},
    {"context": "Sky colour:", "choices": [" blue", " green"], "answer": 0, "language": "de"},
]
BIGBENCH = {
    "name": "toy",
    "examples": [
        {"input": "2 + 2", "target_scores": {"4": 1, "5": 0}},
        {"input": "Largest?", "target_scores": {"1": 0, "9": 1, "nine": 1}},
    ],
}


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_choices(tmp_path):
    items = read_choice_file(_jsonl(tmp_path / "t.jsonl", GOOD_JSONL), "toy")
    assert [it.answer for it in items] == [1, 0, 0]
    assert items[0].context == "Question: 2 + 2 = ?\nAnswer:"
    assert items[0].choices == [" 3", " 4", " 5"]
    assert items[2].context == "Sky colour:" and items[2].language == "de"
    assert [it.id for it in items] == ["toy/0", "toy/1", "toy/2"]


def test_bigbench_choices(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(BIGBENCH))
    items = read_choice_file(path, "toy")
    assert items[0].context == "Q: 2 + 2\nA: " and items[0].choices == ["4", "5"]
    assert items[1].meta["correct"] == [1, 2]


def test_summary_files(tmp_path):
    jsonl = _jsonl(
        tmp_path / "s.jsonl",
        [{"document": "Long text.", "summary": "Short."}, {"document": "B", "summary": ["x", "y"]}],
    )
    assert [it.summaries for it in read_summary_file(jsonl, "s")] == [["Short."], ["x", "y"]]
    bb = tmp_path / "task.json"
    bb.write_text(json.dumps({"examples": [{"input": "doc", "target": ["sum"]}]}))
    assert read_summary_file(bb, "b")[0].document == "doc"


GOOD = json.dumps(GOOD_JSONL[0])
# (id, lines of the file, text the error must contain after the file name)
BAD_JSONL = [
    ("bad-json", [GOOD, "{not json"], "line 2: not valid JSON"),
    (
        "missing-field",
        [GOOD, "", '{"question": "a", "answer": 0}'],
        "line 3: missing field 'choices'",
    ),
    (
        "answer-out-of-range",
        ['{"question": "a", "choices": ["x", "y"], "answer": 2}'],
        "line 1: no correct choice",
    ),
    (
        "answer-not-a-choice",
        [GOOD, '{"question": "a", "choices": ["x", "y"], "answer": "z"}'],
        "line 2: no correct choice",
    ),
    ("one-choice", ['{"question": "a", "choices": ["x"], "answer": 0}'], "line 1: 'choices'"),
    ("not-an-object", [GOOD, GOOD, "[1, 2]"], "line 3: expected a JSON object"),
    (
        "wrong-type",
        ['{"question": 3, "choices": ["x", "y"], "answer": 0}'],
        "line 1: field 'question'",
    ),
]


@pytest.mark.parametrize(
    ("lines", "message"), [b[1:] for b in BAD_JSONL], ids=[b[0] for b in BAD_JSONL]
)
def test_malformed_jsonl_names_file_and_line(tmp_path, lines, message):
    path = _jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TaskFileError) as err:
        read_choice_file(path, "bad")
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)


def test_no_correct_choice_is_named(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"question": "a", "choices": ["x", "y"], "answer": 5}])
    with pytest.raises(TaskFileError, match=r"line 1: no correct choice"):
        read_choice_file(path, "bad")


BAD_BIGBENCH = [
    ("invalid-json", '{"examples": [\n  {"input": "a",\n  }]}', "line 3"),
    ("no-examples", json.dumps({"name": "x"}), "'examples'"),
    (
        "missing-target-scores",
        json.dumps(
            {"examples": [{"input": "a", "target_scores": {"x": 1, "y": 0}}, {"input": "b"}]}
        ),
        "examples[1]: missing field 'target_scores'",
    ),
    (
        "no-correct-choice",
        json.dumps({"examples": [{"input": "a", "target_scores": {"x": 0, "y": 0}}]}),
        "examples[0]: no correct choice",
    ),
]


@pytest.mark.parametrize(
    ("content", "message"), [b[1:] for b in BAD_BIGBENCH], ids=[b[0] for b in BAD_BIGBENCH]
)
def test_malformed_bigbench_names_file_and_example(tmp_path, content, message):
    path = tmp_path / "task.json"
    path.write_text(content)
    with pytest.raises(TaskFileError) as err:
        read_choice_file(path, "bad")
    assert str(path) in str(err.value) and message in str(err.value)


def test_bad_summary_file_names_line(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"document": "a", "summary": "b"}, {"document": "a"}])
    with pytest.raises(TaskFileError, match=r"s\.jsonl: line 2: missing field 'summary'"):
        read_summary_file(path, "s")


def test_a_bad_task_file_leaves_no_items_file(tmp_path, eval_cfg):
    good = _jsonl(tmp_path / "good.jsonl", GOOD_JSONL)
    bad = _jsonl(tmp_path / "bad.jsonl", [GOOD_JSONL[0], {"question": "q", "choices": ["a"]}])
    cfg = {**eval_cfg, "inference": {**eval_cfg["inference"], "generators": ["addition"]}}
    out = tmp_path / "items" / "inference.jsonl"
    cfg["inference"]["task_files"] = [{"name": "good", "path": str(good)}]
    assert write_items("inference", cfg, out) > len(GOOD_JSONL)
    before = out.read_bytes()
    cfg["inference"]["task_files"].append({"name": "bad", "path": str(bad)})
    with pytest.raises(TaskFileError, match=r"bad\.jsonl: line 2"):
        write_items("inference", cfg, out)
    assert out.read_bytes() == before  # the previous complete file is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["inference.jsonl"]  # no temp left

"""Readers for user task files: BIG-bench `task.json` and JSON lines.

Multiple choice (task `inference`):

- BIG-bench ``task.json``: ``examples`` with ``input`` and ``target_scores`` (choice →
  score; the highest-scoring choices are correct). The prompt is BIG-bench's:
  ``task_prefix + example_input_prefix + input + example_output_prefix`` (defaults
  ``"\\nQ: "`` and ``"\\nA: "``), then the choice.
- JSONL: one object per line with ``question``, ``choices`` (≥ 2 strings) and ``answer``
  (an index or one of the choices). The prompt is ``"Question: {question}\\nAnswer:"``
  and each choice follows after a space; a row may instead give the exact ``context``.

Summarization: BIG-bench ``input``/``target`` (a string or a list of references) or JSONL
``document``/``summary`` (same).

Every problem raises `TaskFileError` naming the file and the line (JSONL) or example
index (BIG-bench); a file is read completely before any item is returned, so a bad file
never leaves partial output behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from tokattn.evaluation.tasks.items import ChoiceItem, SummaryItem

FORMATS = ("bigbench", "jsonl")


class TaskFileError(ValueError):
    """A task file is malformed; the message names the file and line or example."""


def file_format(path: str | Path, declared: str | None = None) -> str:
    """Return the format of a task file: `declared`, else from the extension."""
    if declared and declared != "auto":
        if declared not in FORMATS:
            raise TaskFileError(f"{path}: unknown format {declared!r} (one of {FORMATS})")
        return declared
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        return "bigbench"
    raise TaskFileError(f"{path}: cannot tell the format from the extension; set format")


def _jsonl_rows(path: Path) -> list[tuple[str, dict]]:
    """Return (location, object) for every non-blank line of a JSONL file."""
    try:
        # "\n" only: str.splitlines() also splits on U+2028/U+2029/U+0085 inside a string.
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise TaskFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise TaskFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}: line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskFileError(
                f"{where}: not valid JSON ({exc.msg}, column {exc.colno})"
            ) from None
        if not isinstance(obj, dict):
            raise TaskFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        rows.append((where, obj))
    if not rows:
        raise TaskFileError(f"{path}: no items")
    return rows


def _bigbench(path: Path) -> tuple[dict, list[tuple[str, dict]]]:
    """Return (task object, [(location, example)]) of a BIG-bench task.json."""
    try:
        task = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskFileError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise TaskFileError(
            f"{path}: line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(task, dict) or not isinstance(task.get("examples"), list):
        raise TaskFileError(f"{path}: a BIG-bench task needs an 'examples' list")
    if not task["examples"]:
        raise TaskFileError(f"{path}: 'examples' is empty")
    rows = []
    for i, ex in enumerate(task["examples"]):
        where = f"{path}: examples[{i}]"
        if not isinstance(ex, dict):
            raise TaskFileError(f"{where}: expected an object, got {type(ex).__name__}")
        rows.append((where, ex))
    return task, rows


def _field(where: str, obj: Mapping, key: str, kind: type | tuple[type, ...]):
    if key not in obj:
        raise TaskFileError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise TaskFileError(f"{where}: field '{key}' must be {names}, got {type(value).__name__}")
    return value


def _references(where: str, obj: Mapping, key: str) -> list[str]:
    value = _field(where, obj, key, (str, list))
    refs = [value] if isinstance(value, str) else value
    if not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        raise TaskFileError(f"{where}: field '{key}' must be non-empty text (or a list of it)")
    return refs


def read_choice_file(
    path: str | Path,
    name: str,
    language: str = "en",
    domain: str = "external",
    fmt: str | None = None,
) -> list[ChoiceItem]:
    """Return the multiple-choice items of a BIG-bench or JSONL task file."""
    path = Path(path)
    fmt = file_format(path, fmt)
    items: list[ChoiceItem] = []
    if fmt == "jsonl":
        for k, (where, row) in enumerate(_jsonl_rows(path)):
            choices = _field(where, row, "choices", list)
            if len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
                raise TaskFileError(f"{where}: 'choices' must list at least 2 non-empty strings")
            answer = _field(where, row, "answer", (int, str))
            if isinstance(answer, str):
                if answer not in choices:
                    raise TaskFileError(
                        f"{where}: no correct choice: answer {answer!r} not in choices"
                    )
                answer = choices.index(answer)
            elif not 0 <= answer < len(choices):
                raise TaskFileError(
                    f"{where}: no correct choice: answer index {answer} out of range 0..{len(choices) - 1}"
                )
            if "context" in row:
                context = _field(where, row, "context", str)
                rendered = list(choices)
            else:
                question = _field(where, row, "question", str)
                context = f"Question: {question}\nAnswer:"
                rendered = [" " + c for c in choices]
            items.append(
                ChoiceItem(
                    id=f"{name}/{k}",
                    task="inference",
                    subtask=name,
                    language=str(row.get("language", language)),
                    context=context,
                    choices=rendered,
                    answer=answer,
                    domain=str(row.get("domain", domain)),
                    meta={"source": str(path)},
                )
            )
        return items
    task, rows = _bigbench(path)
    prefix = task.get("task_prefix", "")
    in_prefix = task.get("example_input_prefix", "\nQ: ")
    out_prefix = task.get("example_output_prefix", "\nA: ")
    for k, (where, ex) in enumerate(rows):
        text = _field(where, ex, "input", str)
        scores = _field(where, ex, "target_scores", dict)
        if len(scores) < 2:
            raise TaskFileError(f"{where}: 'target_scores' needs at least 2 choices")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in scores.values()):
            raise TaskFileError(f"{where}: 'target_scores' values must be numbers")
        best = max(scores.values())
        if best <= 0:
            raise TaskFileError(f"{where}: no correct choice (no target score above 0)")
        choices = list(scores)
        correct = [i for i, c in enumerate(choices) if scores[c] == best]
        items.append(
            ChoiceItem(
                id=f"{name}/{k}",
                task="inference",
                subtask=name,
                language=language,
                context=(prefix + in_prefix + text + out_prefix).lstrip(),
                choices=choices,
                answer=correct[0],
                domain=domain,
                meta={"source": str(path), "correct": correct},
            )
        )
    return items


def read_summary_file(
    path: str | Path,
    name: str,
    language: str = "en",
    domain: str = "external",
    fmt: str | None = None,
) -> list[SummaryItem]:
    """Return the summarization items of a JSONL (document/summary) or BIG-bench file."""
    path = Path(path)
    fmt = file_format(path, fmt)
    if fmt == "jsonl":
        rows = _jsonl_rows(path)
        doc_key, ref_key = "document", "summary"
    else:
        rows = _bigbench(path)[1]
        doc_key, ref_key = "input", "target"
    items = []
    for k, (where, row) in enumerate(rows):
        document = _field(where, row, doc_key, str)
        if not document.strip():
            raise TaskFileError(f"{where}: field '{doc_key}' is empty")
        items.append(
            SummaryItem(
                id=f"{name}/{k}",
                task="summarization",
                subtask=name,
                language=str(row.get("language", language)),
                document=document,
                summaries=_references(where, row, ref_key),
                domain=str(row.get("domain", domain)),
                meta={"source": str(path)},
            )
        )
    return items

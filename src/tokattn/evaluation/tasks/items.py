"""Item types shared by generators, readers and scorers, plus the train/eval partition."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tokattn.common.atomic_files import temp_file_beside

SPLITS = ("train", "eval")


@dataclass
class ChoiceItem:
    """A multiple-choice item scored by the log-likelihood of each choice after `context`.

    Choices carry their own leading separator (" 42", or "42" after "答案："), so
    `context + choice` is the exact text the model reads.
    """

    id: str
    task: str  # "inference"
    subtask: str  # generator or task-file name
    language: str
    context: str
    choices: list[str]
    answer: int  # index of the correct choice
    split: str = "eval"
    domain: str = "tasks"
    meta: dict = field(default_factory=dict)

    def text(self) -> str:
        """Return the item with its correct answer, as a training document."""
        return self.context + self.choices[self.answer]


@dataclass
class MemoryItem:
    """A retention item: facts, `distance_bytes` of filler, then a cue to complete.

    Scored twice: greedy generation must reproduce `choices[answer]`, and the right
    value must rank first by log-likelihood among `choices` (the other candidates).
    """

    id: str
    task: str  # "memory"
    subtask: str  # passkey | associative
    language: str
    context: str
    choices: list[str]
    answer: int
    distance_bytes: int  # configured distance (the bucket)
    filler_bytes: int  # actual filler length between the facts and the cue
    split: str = "eval"
    domain: str = "tasks"
    meta: dict = field(default_factory=dict)

    def text(self) -> str:
        """Return the item with its correct answer, as a training document."""
        return self.context + self.choices[self.answer]


@dataclass
class SummaryItem:
    """A document and its reference summaries (ROUGE against all references)."""

    id: str
    task: str  # "summarization"
    subtask: str  # stdlib_docstrings or task-file name
    language: str
    document: str
    summaries: list[str]
    split: str = "eval"
    domain: str = "tasks"
    meta: dict = field(default_factory=dict)


ITEM_TYPES = {"inference": ChoiceItem, "memory": MemoryItem, "summarization": SummaryItem}
Item = ChoiceItem | MemoryItem | SummaryItem


def stable_fraction(key: str, salt: str = "tokattn-split") -> float:
    """Return a number in [0, 1) fixed by `key` alone (not by Python's hash seed)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_split(key: str, split: str, train_share: float = 0.5) -> bool:
    """Return whether entity/number/document `key` belongs to `split` ("train" or "eval").

    The partition depends on the key only, so train and eval pools are disjoint for every
    seed and every config, and a key never changes side when item counts change.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return (stable_fraction(key) < train_share) == (split == "train")


def item_to_dict(item: Item) -> dict:
    """Return the JSON-ready dict of an item."""
    return asdict(item)


def item_from_dict(task: str, row: dict) -> Item:
    """Return the item of `task` stored in `row` (one JSONL line)."""
    return ITEM_TYPES[task](**row)


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows as JSON lines to `path` via a temp file + rename; return the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def write_json_atomic(path: str | Path, obj) -> None:
    """Write `obj` as indented JSON to `path` via a temp file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield the rows of a JSON-lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def save_items(path: str | Path, items: Iterable[Item]) -> int:
    """Write items to a JSONL file atomically; return how many."""
    return write_jsonl_atomic(path, (item_to_dict(it) for it in items))


def load_items(task: str, path: str | Path) -> list[Item]:
    """Return the items of `task` stored in a JSONL file written by `save_items`."""
    return [item_from_dict(task, row) for row in read_jsonl(path)]

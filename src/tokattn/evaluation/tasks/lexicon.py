"""Per-language names and sentence templates for the built-in generators.

Templates avoid grammar that would need inflected names (Russian cases, French gender):
ordering uses "X has more books than Y" where that is idiomatic, and a language without
such a template simply has no ordering items. `sep` is what separates a cue from its
answer: a space, or nothing for Chinese.

The word lists live in data files beside this module: `data/names.json` (given names
per language) and `data/templates.json` (per language: `question`/`answer`, the labels
that frame a multiple-choice item; `sep`, between a cue and its answer and between
sentences; and the sentence templates, null where a language has none).
"""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

NAMES: dict[str, list[str]] = json.loads((DATA_DIR / "names.json").read_text("utf-8"))
TEMPLATES: dict[str, dict[str, str | None]] = json.loads(
    (DATA_DIR / "templates.json").read_text("utf-8")
)

LANGUAGES = tuple(TEMPLATES)


def template(language: str, key: str) -> str | None:
    """Return the template `key` of `language`, or None where the language has none."""
    return TEMPLATES.get(language, {}).get(key)


def qa_context(language: str, preamble: str, question: str) -> str:
    """Return "<preamble>\\n<Question:> <question>\\n<Answer:>" in `language`."""
    t = TEMPLATES[language]
    return f"{preamble}\n{t['question']}{t['sep']}{question}\n{t['answer']}"


def answer_text(language: str, value: str) -> str:
    """Return `value` as it follows a cue in `language` (with its leading separator)."""
    return f"{TEMPLATES[language]['sep']}{value}"

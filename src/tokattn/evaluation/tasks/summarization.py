"""Summarization pairs from Python standard-library docstrings (offline, real text).

PEP 257: a docstring's first line is a summary of the object, then a blank line, then
the body. A pair is (body → first line), kept only where the first paragraph is that
single line and the body is substantial. Sources are read with `ast` — nothing is
imported — and modules are assigned to "train" or "eval" by `items.in_split`, so the
training mix and the evaluation never share a module.
"""

from __future__ import annotations

import ast
import os
import random
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from tokattn.evaluation.tasks.items import SummaryItem, in_split

# Test suites, IDE and demo code, vendored and generated modules: not library prose.
_SKIP_PARTS = frozenset(
    {
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "lib2to3",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "ensurepip",
        "turtledemo",
        "pydoc_data",
        "encodings",
        "__phello__",
    }
)


def stdlib_modules(stdlib_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """Return (dotted module name, source path) of every stdlib .py file, sorted."""
    root = Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_PARTS]  # prune: never walk site-packages
        paths += [Path(folder) / f for f in files if f.endswith(".py")]
    out = []
    for path in sorted(paths):
        rel = path.relative_to(root)
        if rel.name.startswith("test_"):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            out.append((".".join(parts), path))
    return out


def _docstrings(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (qualified name, cleaned docstring) of the module, classes and functions."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop(0)
        doc = ast.get_docstring(node, clean=True)
        if doc:
            yield prefix or "<module>", doc
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                stack.append((child, f"{prefix}.{child.name}" if prefix else child.name))


def docstring_pair(
    doc: str, min_body_bytes: int, max_document_bytes: int, max_summary_bytes: int
) -> tuple[str, str] | None:
    """Return (body, summary line) of a PEP 257 docstring, or None if it is not a usable pair."""
    paragraphs = doc.strip().split("\n\n")
    if len(paragraphs) < 2:
        return None
    first = paragraphs[0].strip()
    if "\n" in first or not (10 <= len(first.encode("utf-8")) <= max_summary_bytes):
        return None
    if not first[0].isalpha() or first.endswith(":"):
        return None
    body = "\n\n".join(p.strip("\n") for p in paragraphs[1:]).strip()
    if len(body.encode("utf-8")) < min_body_bytes:
        return None
    if len(body.encode("utf-8")) > max_document_bytes:
        # Cut at the last paragraph (or line) boundary that fits.
        cut = body.encode("utf-8")[:max_document_bytes].decode("utf-8", errors="ignore")
        for sep in ("\n\n", "\n"):
            if sep in cut and len(cut[: cut.rfind(sep)].encode()) >= min_body_bytes:
                cut = cut[: cut.rfind(sep)]
                break
        body = cut.rstrip()
    return body, first


def stdlib_docstring_items(
    n: int,
    split: str,
    seed: int,
    min_body_bytes: int = 300,
    max_document_bytes: int = 2000,
    max_summary_bytes: int = 200,
    exclude_text: str = "",
    stdlib_dir: str | Path | None = None,
) -> list[SummaryItem]:
    """Return up to `n` (docstring body → first line) pairs from modules of `split`.

    Modules are visited in a seeded order and parsed only until `n` pairs are found. A
    pair whose summary line, or the start of its body, occurs in `exclude_text` (the
    training corpus) is dropped, so a model is not scored on text it was trained on.
    """
    modules = [
        (name, path)
        for name, path in stdlib_modules(stdlib_dir)
        if in_split(f"module:{name.split('.')[0]}", split)
    ]
    random.Random(f"{seed}:stdlib_docstrings:{split}").shuffle(modules)
    items: list[SummaryItem] = []
    for module, path in modules:
        for qualname, doc in _docstrings(path):
            if len(items) == n:
                return items
            pair = docstring_pair(doc, min_body_bytes, max_document_bytes, max_summary_bytes)
            if pair is None:
                continue
            body, summary = pair
            if exclude_text and (summary in exclude_text or body[:120] in exclude_text):
                continue
            items.append(
                SummaryItem(
                    id=f"stdlib_docstrings/{split}/{module}:{qualname}",
                    task="summarization",
                    subtask="stdlib_docstrings",
                    language="en",
                    document=body,
                    summaries=[summary],
                    split=split,
                    domain="technical",
                    meta={"module": module, "object": qualname, "python": sys.version.split()[0]},
                )
            )
    return items

"""The shell commands shown in README.md and docs/*.md, one argv per command.

Commands come from ```bash blocks (continuation lines joined, comments dropped, `&&`
chains split) and from inline code spans that hold a whole `snakemake ... --configfile`
command in the prose.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELL_LANGS = {"bash", "sh", "shell"}
INLINE_SNAKEMAKE = re.compile(r"`(snakemake\s[^`]*--configfile[^`]*)`")


@dataclass(frozen=True)
class DocCommand:
    """One command as written in a document: where it is and its words."""

    source: str  # "README.md:63"
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.source}: {shlex.join(self.argv)}"


def doc_files(root: Path = ROOT) -> list[Path]:
    """Return README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _split_chain(words: list[str]) -> list[list[str]]:
    """Split `a && b` into [a, b]; a pipe or `;` is refused (write it as separate commands)."""
    parts, current = [], []
    for word in words:
        if word == "&&":
            parts.append(current)
            current = []
        elif word in ("|", ";", "||"):
            raise ValueError(f"unsupported shell operator {word!r}")
        else:
            current.append(word)
    parts.append(current)
    return [p for p in parts if p]


def _block_commands(name: str, first_line: int, block: str) -> list[DocCommand]:
    out = []
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        while text.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text.rstrip()[:-1] + " " + lines[i]
        i += 1
        words = shlex.split(text, comments=True)
        for argv in _split_chain(words):
            out.append(DocCommand(f"{name}:{first_line + start}", tuple(argv)))
    return out


def commands_in(path: Path, root: Path = ROOT) -> list[DocCommand]:
    """Return the commands of one Markdown file, in document order."""
    text = path.read_text("utf-8")
    name = path.relative_to(root).as_posix()
    found: list[tuple[int, list[DocCommand]]] = []
    for m in FENCE.finditer(text):
        if m.group(1) in SHELL_LANGS:
            line = text.count("\n", 0, m.start(2)) + 1
            found.append((line, _block_commands(name, line, m.group(2))))
    # Blank out fenced blocks (keeping line numbers) before looking at inline spans.
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in INLINE_SNAKEMAKE.finditer(prose):
        line = prose.count("\n", 0, m.start()) + 1
        found.append((line, [DocCommand(f"{name}:{line}", tuple(m.group(1).split()))]))
    return [cmd for _, cmds in sorted(found, key=lambda f: f[0]) for cmd in cmds]


def all_doc_commands(root: Path = ROOT) -> list[DocCommand]:
    """Return every command of README.md and docs/*.md."""
    return [cmd for path in doc_files(root) for cmd in commands_in(path, root)]

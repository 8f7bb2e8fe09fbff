"""MediaWiki XML dumps to plain text: pages, sections and markup stripping.

Good enough for language-model text, not a full wikitext parser: templates, tables,
references, comments, files and categories are dropped; links become their label.
"""

from __future__ import annotations

import bz2
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_REF = re.compile(r"<ref\b[^>]*/>|<ref\b[^>]*>.*?</ref\s*>", re.S | re.I)
_BLOCK_TAG = re.compile(
    r"<(gallery|math|chem|timeline|score|syntaxhighlight|source|pre|imagemap|hiero)\b[^>]*>"
    r".*?</\1\s*>",
    re.S | re.I,
)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_TEMPLATE_MARK = re.compile(r"\{\{|\}\}")
_TABLE_MARK = re.compile(r"^\s*\{\||^\s*\|\}", re.M)  # tables open and close at line starts
_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")  # innermost internal link
_EXTERNAL_LINK = re.compile(r"\[(?:https?:)?//[^\s\]]+ ?([^\]]*)\]")
_EMPHASIS = re.compile(r"'{2,}")
_HEADING = re.compile(r"^(={2,6})\s*(.*?)\s*\1\s*$", re.M)
_LIST_MARK = re.compile(r"^[*#:;]+\s*", re.M)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_BLANK_LINES = re.compile(r"\n{3,}")
_SECTION = re.compile(r"^==\s*([^=].*?)\s*==\s*$", re.M)  # level-2 heading only
# Namespaces whose links are not prose (English and Bulgarian names: the shipped dumps).
_DROP_LINK_PREFIXES = (
    "file:",
    "image:",
    "category:",
    "media:",
    "файл:",
    "картинка:",
    "категория:",
    "образ:",
)
_INTERWIKI = re.compile(r"^:?[a-z]{2,3}(?:-[a-z]+)?:")
SKIPPED_SECTIONS = frozenset(
    {
        "see also",
        "references",
        "external links",
        "further reading",
        "notes",
        "bibliography",
        "sources",
        "citations",
        "footnotes",
        "notes and references",
        "вижте също",
        "бележки",
        "източници",
        "външни препратки",
        "литература",
    }
)


def _drop_nested(text: str, marks: re.Pattern, opening: str) -> str:
    """Remove every span between balanced open/close marks (templates may nest, and their
    arguments may hold single braces, so a regex for "innermost" is not enough)."""
    kept, depth, start = [], 0, 0
    for m in marks.finditer(text):
        if m.group().strip() == opening:
            if depth == 0:
                kept.append(text[start : m.start()])
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                start = m.end()
    if depth == 0:  # an unclosed mark drops the rest: it is markup we cannot read
        kept.append(text[start:])
    return "".join(kept)


def _replace_until_stable(pattern: re.Pattern, repl, text: str) -> str:
    while True:
        new = pattern.sub(repl, text)
        if new == text:
            return new
        text = new


def _link_label(match: re.Match) -> str:
    target, _, label = match.group(1).partition("|")
    lowered = target.strip().lower()
    if lowered.startswith(_DROP_LINK_PREFIXES) or _INTERWIKI.match(lowered):
        return ""
    if label:
        # [[File:x.jpg|thumb|caption]] was dropped above; for prose links the label is
        # the last '|' field ([[a|b]] -> b).
        return label.rsplit("|", 1)[-1]
    return target.split("#", 1)[0] if not target.startswith("#") else target[1:]


def strip_wikitext(text: str) -> str:
    """Return the plain text of a wikitext fragment (markup removed, links as labels)."""
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    text = _BLOCK_TAG.sub("", text)
    text = _drop_nested(text, _TEMPLATE_MARK, "{{")
    text = _drop_nested(text, _TABLE_MARK, "{|")
    text = _replace_until_stable(_LINK, _link_label, text)
    text = _EXTERNAL_LINK.sub(lambda m: m.group(1), text)
    text = _TAG.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _MAGIC_WORD.sub("", text)
    text = _HEADING.sub(lambda m: m.group(2), text)
    text = _LIST_MARK.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    # Leftovers of broken markup ("}}", "|}", "|-") are not prose.
    lines = [line for line in lines if not re.fullmatch(r"[{}|!\-\s]+", line)]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def iter_pages(dump_path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield (title, wikitext) of each article page (namespace 0, not a redirect) of a dump."""
    opener = bz2.open if str(dump_path).endswith(".bz2") else open
    with opener(dump_path, "rb") as fh:
        for _, elem in ET.iterparse(fh):
            if elem.tag.rsplit("}", 1)[-1] != "page":
                continue
            ns = elem.findtext("{*}ns")
            redirect = elem.find("{*}redirect") is not None
            text = elem.findtext("{*}revision/{*}text") or ""
            if ns == "0" and not redirect and not text.lstrip().upper().startswith("#REDIRECT"):
                yield elem.findtext("{*}title") or "", text
            elem.clear()


def article_sections(title: str, wikitext: str) -> Iterator[str]:
    """Yield one plain-text document per level-2 section of an article (lead first).

    Each document starts with the article title (and the section heading), so a
    section read alone still says what it is about. Reference-like sections are skipped.
    """
    parts = _SECTION.split(wikitext)
    # parts = [lead, heading1, body1, heading2, body2, ...]
    sections = [(None, parts[0])] + list(zip(parts[1::2], parts[2::2], strict=True))
    for heading, body in sections:
        if heading is not None and strip_wikitext(heading).lower() in SKIPPED_SECTIONS:
            continue
        plain = strip_wikitext(body)
        if not plain:
            continue
        head = title if heading is None else f"{title}\n\n{strip_wikitext(heading)}"
        yield f"{head}\n\n{plain}"

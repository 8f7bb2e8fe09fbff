"""Parallel text of the tokenizer parity metric: Django's translation catalogs, read offline.

`parallel_texts()` returns the same UI messages in every language that translates nearly
all of them, read from django/conf/locale/*/LC_MESSAGES/django.mo (BSD-3-Clause); django
is located on disk, never imported.
"""

from __future__ import annotations

import gettext
import importlib.metadata
import importlib.util
import re
from functools import cache

from tokattn.corpus.builtin_text import BuiltinTextMissing, package_dir

# Parallel text for tokenizer parity: Django's core translation catalogs
# (django/conf/locale/<locale>/LC_MESSAGES/django.mo). Read from disk; django is
# never imported (importing it is slow and wants settings).
PARALLEL_TEXT_SOURCE = {
    "description": (
        "Django core UI messages (form validation errors, model field descriptions, "
        "language names), one message a line in a fixed order, the same messages in "
        "every language"
    ),
    "package": "django",
    "files": "django/conf/locale/<locale>/LC_MESSAGES/django.mo",
    "licence": "BSD-3-Clause",
}
PARALLEL_MIN_CHARS = 15  # shorter msgids are labels ("Integer", "March"), not phrases
PARALLEL_MIN_COVERAGE = 0.9  # share of non-English catalogs that must translate a msgid
# msgids with printf/format placeholders, HTML or entities, or several lines.
_PLACEHOLDER_OR_MARKUP = re.compile(r"%\(|%[a-z]|\{|[<>]|&[a-z]+;|\n")
# Django locale -> the corpus' codes: ISO 639 (chatterbot and gflanguages use `zh` for
# Simplified Chinese); other locales keep Django's spelling (pt_BR, sr_Latn, zh_Hant).
_DJANGO_LOCALE_CODES = {"zh_Hans": "zh"}


def _django_catalogs() -> dict[str, dict[str, str]]:
    """Return Django locale -> {msgid: translation} of the core catalogs (plain msgids only)."""
    locale_dir = package_dir("django") / "conf" / "locale"
    catalogs = {}
    for mo in sorted(locale_dir.glob("*/LC_MESSAGES/django.mo")):
        with open(mo, "rb") as fh:
            raw = gettext.GNUTranslations(fh)._catalog
        # Plural forms are keyed (msgid, n), msgctxt entries "ctxt\x04msgid", the header "".
        catalogs[mo.parents[1].name] = {
            k: v for k, v in raw.items() if isinstance(k, str) and k and "\x04" not in k
        }
    if not catalogs:
        raise BuiltinTextMissing(f"no Django translation catalogs under {locale_dir}")
    return catalogs


@cache
def _parallel_texts() -> tuple[tuple[str, str], ...]:
    catalogs = {
        locale: catalog
        for locale, catalog in _django_catalogs().items()
        if locale.split("_")[0] != "en"  # en, en_AU, en_GB: English or near-copies of it
    }

    def translated(catalog: dict[str, str], msgid: str) -> bool:
        text = catalog.get(msgid, "").strip()
        return bool(text) and text != msgid.strip()

    msgids = sorted(
        {
            m
            for catalog in catalogs.values()
            for m in catalog
            if len(m) >= PARALLEL_MIN_CHARS and not _PLACEHOLDER_OR_MARKUP.search(m)
        }
    )
    kept = [
        m
        for m in msgids
        if sum(translated(c, m) for c in catalogs.values()) >= PARALLEL_MIN_COVERAGE * len(catalogs)
    ]
    texts = {"en": "\n".join(kept)}
    for locale, catalog in catalogs.items():
        if all(translated(catalog, m) for m in kept):
            lines = (" ".join(catalog[m].split()) for m in kept)
            texts[_DJANGO_LOCALE_CODES.get(locale, locale)] = "\n".join(lines)
    return tuple(texts.items())


def parallel_texts() -> dict[str, str]:
    """Return language code -> the same Django UI messages, one message a line.

    The text is Django's core translation catalogs (BSD-3-Clause, see
    PARALLEL_TEXT_SOURCE): msgids that are plain phrases (at least PARALLEL_MIN_CHARS
    characters, no placeholders or markup) translated, and differing from the English,
    in at least PARALLEL_MIN_COVERAGE of the non-English catalogs; then every language
    whose catalog translates all of them. Lines are in msgid order, so line i is the
    same message in every language; `en` holds the msgids. With django 5.2 that is 40
    messages in English and 75 other languages, in 13 scripts (Latin, Cyrillic, Arabic,
    Devanagari, Han, Greek, Hebrew, Armenian, Japanese kana, Georgian, Hangul, Malayalam,
    Thai). Codes are ISO 639 (`zh` is Simplified Chinese), with Django's locale
    suffixes kept for variants (`zh_Hant`, `pt_BR`, `sr_Latn`, `es_AR`).
    """
    return dict(_parallel_texts())


def parallel_texts_provenance() -> str:
    """Return the installed text parallel_texts() reads, with its version."""
    try:
        return f"django {importlib.metadata.version('django')} translation catalogs"
    except importlib.metadata.PackageNotFoundError:
        return "django (not installed)"

"""Built-in corpus text: real text that installed pip packages ship, read offline.

Each reader yields `BuiltinDocument`s in a deterministic order. Nothing here fetches
from a network, and packages that are only data carriers (gensim, django) are located with
`importlib.util.find_spec` and read from disk, never imported.

| builtin     | package / files                                        | licence        |
|-------------|--------------------------------------------------------|----------------|
| python_docs | stdlib `pydoc_data.topics` + module docstrings (.py)   | PSF-2.0        |
| chatterbot  | chatterbot_corpus/data/<language>/*.yml                | BSD-3-Clause   |
| udhr        | gflanguages sample texts (UDHR passages)               | Apache-2.0     |
| wikipedia   | gensim/test/test_data/*wiki*.xml.bz2 (en, bg)          | CC-BY-SA-3.0   |
| news        | gensim/test/test_data/lee*.cor (ABC news, Lee 2005)    | unspecified    |

The parallel text of the tokenizer parity metric (Django's translation catalogs) is read
by tokattn.tokenizing.parallel_text.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import inspect
import io
import logging
import os
import platform
import sysconfig
import tokenize
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import NamedTuple

import yaml

from tokattn.corpus.wikitext import article_sections, iter_pages

log = logging.getLogger(__name__)

# libyaml's loader when PyYAML was built with it: the chatterbot files parse ~10x faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LICENCES = {
    "python_docs": "PSF-2.0",
    "chatterbot": "BSD-3-Clause",
    "udhr": "Apache-2.0",
    "wikipedia": "CC-BY-SA-3.0",
    # Lee, Pincombe & Welsh (2005): ABC (Australian Broadcasting Corporation) news
    # articles, redistributed in gensim's test data; no licence is stated for the text.
    "news": "unspecified",
}

# chatterbot_corpus data folder -> ISO 639-1 code. Folder names changed between
# releases (1.2.0: bangla, indonesia, odia, tchinese); `custom` is a mixed-language
# template and is skipped.
CHATTERBOT_LANGUAGES = {
    "bangla": "bn",
    "indonesia": "id",
    "odia": "or",
    "tchinese": "zh",
    "bengali": "bn",
    "chinese": "zh",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hebrew": "he",
    "hindi": "hi",
    "hinglish": "hi",  # Hindi-English code-mixing written in Latin script
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "marathi": "mr",
    "oriya": "or",
    "persian": "fa",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
    "swedish": "sv",
    "tamil": "ta",
    "telugu": "te",
    "thai": "th",
    "traditionalchinese": "zh",
    "turkish": "tr",
    "ukrainian": "uk",
    "urdu": "ur",
    "yoruba": "yo",
}

# gflanguages sample-text fields that are whole UDHR paragraphs or passages, longest
# first; the shorter fields (styles, tester, poster_*) are fragments of the same text.
UDHR_SAMPLE_FIELDS = ("specimen_16", "specimen_21", "specimen_32", "specimen_36")

# stdlib directories that hold tests, demos, vendored tools or compiled modules.
_STDLIB_SKIP_DIRS = frozenset(
    {"idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages", "dist-packages"}
)

GENSIM_WIKI_DUMPS = (
    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "enwiki-table-markup.xml.bz2",
    "bgwiki-latest-pages-articles-shortened.xml.bz2",
)
GENSIM_NEWS_FILES = ("lee_background.cor", "lee.cor")


class BuiltinDocument(NamedTuple):
    text: str
    language: str  # ISO 639-1 code where one exists, else ISO 639-3


class BuiltinTextMissing(RuntimeError):
    """A package that ships built-in text is not installed or lacks its data files."""


def package_dir(package: str) -> Path:
    """Return the directory of an installed package without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BuiltinTextMissing(
            f"package {package!r} is not installed; it ships built-in corpus text "
            f"(pip install {package.replace('_', '-')})"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _module_docstring(source: str) -> str | None:
    """Return the cleaned module docstring of Python source, reading only its first tokens."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING):
                continue
            if tok.type == tokenize.STRING:
                value = ast.literal_eval(tok.string)
                return inspect.cleandoc(value) if isinstance(value, str) else None
            return None
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    return None


def iter_python_docs() -> Iterator[BuiltinDocument]:
    """Yield the stdlib reference topics, then each public stdlib module's docstring."""
    from pydoc_data.topics import topics

    for key in sorted(topics):
        yield BuiltinDocument(topics[key].strip(), "en")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _STDLIB_SKIP_DIRS
            and not d.startswith(("test", "_", ".", "config-", "lib-dynload"))
        )
        for name in sorted(files):
            if not name.endswith(".py") or (name.startswith("_") and name != "__init__.py"):
                continue
            source = (Path(root) / name).read_text(encoding="utf-8", errors="replace")
            doc = _module_docstring(source)
            if doc:
                yield BuiltinDocument(doc, "en")


def _conversation_text(conversation) -> str:
    turns = conversation if isinstance(conversation, list) else [conversation]
    return "\n".join(str(t).strip() for t in turns if t is not None and str(t).strip())


def iter_chatterbot() -> Iterator[BuiltinDocument]:
    """Yield one document per chatterbot-corpus conversation (turns joined by newlines)."""
    data = package_dir("chatterbot_corpus") / "data"
    for lang_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        language = CHATTERBOT_LANGUAGES.get(lang_dir.name)
        if language is None:
            if lang_dir.name != "custom":
                log.warning("chatterbot: skipping folder %s (no ISO code known)", lang_dir.name)
            continue
        for path in sorted(lang_dir.glob("*.yml")):
            try:
                content = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                log.warning("chatterbot: skipping unreadable %s: %s", path, exc)
                continue
            conversations = content.get("conversations") if isinstance(content, dict) else None
            for conversation in conversations or []:
                text = _conversation_text(conversation)
                if text:
                    yield BuiltinDocument(text, language)


@cache
def _udhr_languages() -> tuple:
    """Return the gflanguages entries whose samples are living-language UDHR text."""
    import gflanguages

    languages = gflanguages.LoadLanguages()
    scripts = gflanguages.LoadScripts()
    # Samples in historical or fictional scripts (e.g. Assyrian Neo-Aramaic in Ugaritic)
    # are machine transliterations, not text anyone writes; `mis` is "uncoded language".
    living = {key for key, s in scripts.items() if not s.historical and not s.fictional}
    return tuple(
        languages[key]
        for key in sorted(languages)
        if languages[key].script in living and languages[key].language != "mis"
    )


def _udhr_sample(lang) -> str | None:
    """Return the distinct UDHR paragraphs of a gflanguages entry, or None if it has none.

    Historical languages and entries whose samples cite another source (or carry a
    note, e.g. transliterations) are not UDHR text.
    """
    if not lang.HasField("sample_text") or lang.historical or lang.source:
        return None
    if lang.sample_text.note:
        return None
    paragraphs: list[str] = []
    for field in UDHR_SAMPLE_FIELDS:
        for para in getattr(lang.sample_text, field).split("\n"):
            para = para.strip()
            if para and not any(para in kept for kept in paragraphs):
                paragraphs.append(para)
    return "\n".join(paragraphs) or None


def iter_udhr() -> Iterator[BuiltinDocument]:
    """Yield one UDHR sample document per gflanguages language/script entry."""
    for lang in _udhr_languages():
        text = _udhr_sample(lang)
        if text:
            yield BuiltinDocument(text, lang.language)


def iter_wikipedia() -> Iterator[BuiltinDocument]:
    """Yield one document per section of the Wikipedia articles in gensim's test data."""
    data = package_dir("gensim") / "test" / "test_data"
    seen_titles = set()
    for name in GENSIM_WIKI_DUMPS:
        path = data / name
        if not path.exists():
            raise BuiltinTextMissing(f"gensim test data file {path} is missing")
        language = name[: name.index("wiki")]
        for title, wikitext in iter_pages(path):
            if (language, title) in seen_titles:
                continue
            seen_titles.add((language, title))
            for section in article_sections(title, wikitext):
                yield BuiltinDocument(section, language)


def iter_news() -> Iterator[BuiltinDocument]:
    """Yield the ABC news articles of the Lee (2005) corpus in gensim's test data."""
    data = package_dir("gensim") / "test" / "test_data"
    for name in GENSIM_NEWS_FILES:
        path = data / name
        if not path.exists():
            raise BuiltinTextMissing(f"gensim test data file {path} is missing")
        # The files are Latin-1 (a pound sign is byte 0xA3), one article per line.
        for line in path.read_text(encoding="latin-1").split("\n"):
            if line.strip():
                yield BuiltinDocument(line.strip(), "en")


BUILTIN_READERS: dict[str, Callable[[], Iterator[BuiltinDocument]]] = {
    "python_docs": iter_python_docs,
    "chatterbot": iter_chatterbot,
    "udhr": iter_udhr,
    "wikipedia": iter_wikipedia,
    "news": iter_news,
}


_DISTRIBUTIONS = {
    "chatterbot": "chatterbot-corpus",
    "udhr": "gflanguages",
    "wikipedia": "gensim",
    "news": "gensim",
}


def builtin_provenance(name: str) -> str:
    """Return which installed text a builtin reads, with its version (e.g. 'gensim 4.3.3')."""
    if name == "python_docs":
        return f"Python {platform.python_version()} stdlib"
    dist = _DISTRIBUTIONS[name]
    try:
        return f"{dist} {importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} (not installed)"


def iter_builtin(name: str) -> Iterator[BuiltinDocument]:
    """Yield the documents of the built-in text `name` (a key of BUILTIN_READERS)."""
    try:
        reader = BUILTIN_READERS[name]
    except KeyError:
        raise ValueError(
            f"unknown builtin {name!r} (known: {', '.join(BUILTIN_READERS)})"
        ) from None
    return reader()

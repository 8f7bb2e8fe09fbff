"""Corpus documents as the generators use them: text plus primary language and domain."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CorpusDoc:
    """One corpus document; `language` is the primary subtag ("de" for "de_Latn")."""

    id: str
    text: str
    language: str
    domain: str


def primary_language(code: str) -> str:
    """Return the primary language subtag of an ISO 639 / BCP-47-like code."""
    return re.split(r"[_-]", str(code), maxsplit=1)[0].lower()


def load_corpus_docs(path: str | Path) -> list[CorpusDoc]:
    """Return the documents of a corpus split parquet (columns id, text, language, domain)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["id", "text", "language", "domain"]).to_pydict()
    return [
        CorpusDoc(str(i), t, primary_language(lang), str(dom))
        for i, t, lang, dom in zip(
            table["id"], table["text"], table["language"], table["domain"], strict=True
        )
    ]


def docs_by_language(docs: Iterable[CorpusDoc]) -> dict[str, list[CorpusDoc]]:
    """Return the documents grouped by primary language, in input order."""
    out: dict[str, list[CorpusDoc]] = {}
    for doc in docs:
        out.setdefault(doc.language, []).append(doc)
    return out


class FillerSource:
    """Seeded stream of corpus text in one language, cut to exact UTF-8 byte lengths.

    Documents are read in a seeded order and cycled when a language has less text than
    requested, so a long distance can still be filled from a small test split; filler
    never contains the facts of an item (they are generated, not corpus text).
    """

    def __init__(self, docs: list[CorpusDoc], rng: random.Random):
        if not docs:
            raise ValueError("FillerSource needs at least one document")
        self._texts = [" ".join(d.text.split()) for d in docs]
        rng.shuffle(self._texts)
        self._rng = rng
        self.total_bytes = sum(len(t.encode("utf-8")) for t in self._texts)

    def take(self, n_bytes: int) -> str:
        """Return at most `n_bytes` bytes of filler, ending on a character boundary."""
        if n_bytes <= 0:
            return ""
        k = self._rng.randrange(len(self._texts))
        parts, size = [], 0
        while size < n_bytes:
            text = self._texts[k % len(self._texts)]
            parts.append(text)
            size += len(text.encode("utf-8")) + 1
            k += 1
        data = " ".join(parts).encode("utf-8")[:n_bytes]
        return data.decode("utf-8", errors="ignore")

"""Memory-retention items: pass-key retrieval and multi-key associative recall.

An item is ``facts \\n filler \\n cue``: the facts state a value, `distance_bytes` of
corpus text in the same language follow, and the cue asks for the value back. Distances
are UTF-8 bytes, so every tokenizer faces the same amount of text between fact and
question. Pass keys and associative values are numbers assigned to "train" or "eval"
by `items.in_split` (disjoint pools); names come from the split's name pool.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from tokattn.evaluation.tasks.corpus_docs import CorpusDoc, FillerSource
from tokattn.evaluation.tasks.inference import split_names
from tokattn.evaluation.tasks.items import MemoryItem, in_split
from tokattn.evaluation.tasks.lexicon import TEMPLATES, answer_text

KINDS = ("passkey", "associative")


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _split_number(rng: random.Random, digits: int, split: str, exclude: set[int]) -> int:
    while True:
        value = rng.randrange(10 ** (digits - 1), 10**digits)
        if value not in exclude and in_split(f"number:{value}", split):
            return value


def _assemble(facts: str, filler: str, cue: str) -> str:
    return f"{facts}\n{filler}\n{cue}" if filler else f"{facts}\n{cue}"


def passkey_items(
    docs: list[CorpusDoc],
    language: str,
    distances_bytes: Iterable[int],
    n: int,
    split: str,
    seed: int,
    digits: int = 5,
    n_candidates: int = 5,
) -> list[MemoryItem]:
    """Return `n` pass-key items per distance; candidates are the key and other split keys."""
    t = TEMPLATES.get(language)
    if t is None or not docs:
        return []
    rng = _rng(seed, "passkey", language, split)
    filler = FillerSource(docs, _rng(seed, "passkey-filler", language, split))
    items = []
    for distance in distances_bytes:
        for k in range(n):
            key = _split_number(rng, digits, split, set())
            others: set[int] = {key}
            while len(others) < n_candidates:
                others.add(_split_number(rng, digits, split, others))
            candidates = sorted(others)
            rng.shuffle(candidates)
            facts = t["sep"].join([t["passkey_intro"], t["passkey_fact"].format(key=key)])
            text = filler.take(distance)
            items.append(
                MemoryItem(
                    id=f"passkey/{language}/{split}/{distance}/{k}",
                    task="memory",
                    subtask="passkey",
                    language=language,
                    context=_assemble(facts, text, t["passkey_cue"]),
                    choices=[answer_text(language, str(c)) for c in candidates],
                    answer=candidates.index(key),
                    distance_bytes=int(distance),
                    filler_bytes=len(text.encode("utf-8")),
                    split=split,
                    domain="synthetic",
                )
            )
    return items


def associative_items(
    docs: list[CorpusDoc],
    language: str,
    distances_bytes: Iterable[int],
    n: int,
    split: str,
    seed: int,
    n_keys: int = 4,
    digits: int = 3,
) -> list[MemoryItem]:
    """Return `n` associative-recall items per distance: `n_keys` name→number facts, one cue.

    The candidates are the numbers of all the names in the item, so ranking the right one
    first means binding the value to its name, not only remembering that it occurred.
    """
    t = TEMPLATES.get(language)
    names = split_names(language, split)
    if t is None or not docs or len(names) < n_keys:
        return []
    rng = _rng(seed, "associative", language, split)
    filler = FillerSource(docs, _rng(seed, "associative-filler", language, split))
    items = []
    for distance in distances_bytes:
        for k in range(n):
            keys = rng.sample(names, n_keys)
            values: list[int] = []
            for _ in keys:
                values.append(_split_number(rng, digits, split, set(values)))
            facts = t["sep"].join(
                t["assoc_fact"].format(name=name, value=value)
                for name, value in zip(keys, values, strict=True)
            )
            q = rng.randrange(n_keys)
            text = filler.take(distance)
            items.append(
                MemoryItem(
                    id=f"associative/{language}/{split}/{distance}/{k}",
                    task="memory",
                    subtask="associative",
                    language=language,
                    context=_assemble(facts, text, t["assoc_cue"].format(name=keys[q])),
                    choices=[answer_text(language, str(v)) for v in values],
                    answer=q,
                    distance_bytes=int(distance),
                    filler_bytes=len(text.encode("utf-8")),
                    split=split,
                    domain="synthetic",
                    meta={"n_keys": n_keys, "query_position": q},
                )
            )
    return items

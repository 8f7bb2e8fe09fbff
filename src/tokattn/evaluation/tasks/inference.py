"""Inference items: transitive ordering, multi-digit addition and comparison, corpus cloze.

Every generator is a pure function of (language, n, split, seed, options): the same
arguments give the same items, and the "train" and "eval" splits draw from disjoint
pools — names and operand pairs are assigned to a split by `items.in_split`, cloze items
come from different corpus documents (the corpus train split for "train", test for
"eval").
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable

from tokattn.evaluation.tasks.corpus_docs import CorpusDoc
from tokattn.evaluation.tasks.items import ChoiceItem, in_split
from tokattn.evaluation.tasks.lexicon import NAMES, TEMPLATES, answer_text, qa_context, template

GENERATORS = ("ordering", "addition", "comparison", "cloze")
# Scripts written without spaces have no word boundary to cut a cloze item at.
_UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
_MAX_TRIES_PER_ITEM = 200


def _rng(seed: int, *parts: object) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so this is stable across runs.
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def split_names(language: str, split: str) -> list[str]:
    """Return the names of `language` that belong to `split` (disjoint across splits)."""
    return [n for n in NAMES.get(language, []) if in_split(f"name:{language}:{n}", split)]


def _finish(items: list[ChoiceItem], n: int, what: str) -> list[ChoiceItem]:
    if len(items) < n:
        raise ValueError(f"{what}: could only make {len(items)} distinct items of {n} requested")
    return items


def ordering_items(
    language: str, n: int, split: str, seed: int, n_entities: int = 4
) -> list[ChoiceItem]:
    """Return `n` transitive-deduction items: premises "A has more books than B", one question.

    Questions ask for the extreme (most/fewest: every name is a choice) or compare two
    names that are never adjacent in the chain, so the answer needs at least two steps.
    """
    if template(language, "more") is None:
        return []
    names = split_names(language, split)
    if len(names) < n_entities:
        raise ValueError(f"ordering/{language}: {len(names)} names in split {split!r}")
    rng = _rng(seed, "ordering", language, split)
    t = TEMPLATES[language]
    items, seen = [], set()
    for _ in range(n * _MAX_TRIES_PER_ITEM):
        if len(items) == n:
            break
        chain = rng.sample(names, n_entities)  # chain[0] has the most books
        premises = [t["more"].format(a=a, b=b) for a, b in zip(chain, chain[1:], strict=False)]
        rng.shuffle(premises)
        kind = rng.choice(["most", "fewest", "pair"])
        if kind == "pair":
            i = rng.randrange(n_entities - 2)
            j = rng.randrange(i + 2, n_entities)
            options = [chain[i], chain[j]]
            rng.shuffle(options)
            question = t["pair"].format(a=options[0], b=options[1])
            correct = chain[i]
        else:
            options = chain[:]
            rng.shuffle(options)
            question = t[kind]
            correct = chain[0] if kind == "most" else chain[-1]
        context = qa_context(language, t["sep"].join(premises), question)
        if context in seen:
            continue
        seen.add(context)
        items.append(
            ChoiceItem(
                id=f"ordering/{language}/{split}/{len(items)}",
                task="inference",
                subtask="ordering",
                language=language,
                context=context,
                choices=[answer_text(language, o) for o in options],
                answer=options.index(correct),
                split=split,
                domain="synthetic",
                meta={"question": kind, "n_entities": n_entities},
            )
        )
    return _finish(items, n, f"ordering/{language}")


def _has_carry(a: int, b: int) -> bool:
    while a or b:
        if a % 10 + b % 10 >= 10:
            return True
        a, b = a // 10, b // 10
    return False


def _carry_columns(a: int, b: int) -> list[int]:
    cols, carry, k = [], 0, 0
    while a or b:
        if a % 10 + b % 10 + carry >= 10:
            cols.append(k)
            carry = 1
        else:
            carry = 0
        a, b, k = a // 10, b // 10, k + 1
    return cols


def _addition_distractors(a: int, b: int, n: int, rng: random.Random) -> list[int]:
    """Wrong sums a careless adder makes: a dropped carry, a digit off by one, a shifted place."""
    total = a + b
    pool = {total - 10 ** (k + 1) for k in _carry_columns(a, b)}  # carry dropped in column k
    digits = len(str(total))
    for k in range(digits):
        pool.update({total + 10**k, total - 10**k})
    pool = sorted(v for v in pool if v > 0 and v != total)
    rng.shuffle(pool)
    return pool[:n]


def addition_items(
    language: str, n: int, split: str, seed: int, digits: Iterable[int] = (3, 4), n_choices: int = 4
) -> list[ChoiceItem]:
    """Return `n` multi-digit addition items whose sums need at least one carry."""
    t = TEMPLATES.get(language)
    if t is None or t["sum"] is None:
        return []
    digits = list(digits)
    rng = _rng(seed, "addition", language, split)
    items, seen = [], set()
    for _ in range(n * _MAX_TRIES_PER_ITEM):
        if len(items) == n:
            break
        d = rng.choice(digits)
        a, b = (rng.randrange(10 ** (d - 1), 10**d) for _ in range(2))
        if not _has_carry(a, b) or not in_split(f"add:{min(a, b)}+{max(a, b)}", split):
            continue
        if (a, b) in seen:
            continue
        wrong = _addition_distractors(a, b, n_choices - 1, rng)
        if len(wrong) < n_choices - 1:
            continue
        seen.add((a, b))
        values = [a + b, *wrong]
        rng.shuffle(values)
        items.append(
            ChoiceItem(
                id=f"addition/{language}/{split}/{len(items)}",
                task="inference",
                subtask="addition",
                language=language,
                context=qa_context(language, "", t["sum"].format(a=a, b=b)).lstrip("\n"),
                choices=[answer_text(language, str(v)) for v in values],
                answer=values.index(a + b),
                split=split,
                domain="synthetic",
                meta={"digits": d, "carries": len(_carry_columns(a, b))},
            )
        )
    return _finish(items, n, f"addition/{language}")


def comparison_items(
    language: str, n: int, split: str, seed: int, digits: Iterable[int] = (3, 4)
) -> list[ChoiceItem]:
    """Return `n` items asking which of two same-length numbers is larger.

    The numbers share a leading prefix and the smaller one has the larger later digits,
    so comparing any digit but the first differing one gives the wrong answer.
    """
    t = TEMPLATES.get(language)
    if t is None or t["larger"] is None:
        return []
    digits = [d for d in digits if d >= 2]
    rng = _rng(seed, "comparison", language, split)
    items, seen = [], set()
    for _ in range(n * _MAX_TRIES_PER_ITEM):
        if len(items) == n:
            break
        d = rng.choice(digits)
        p = rng.randrange(d - 1)  # first differing position (0 = leading digit)
        prefix = [rng.randrange(1 if k == 0 else 0, 10) for k in range(p)]
        lo_digit = rng.randrange(1 if p == 0 else 0, 9)  # no leading zero
        hi_digit = rng.randrange(lo_digit + 1, 10)
        rest = d - p - 1
        big_rest = [rng.randrange(0, 5) for _ in range(rest)]
        small_rest = [rng.randrange(5, 10) for _ in range(rest)]
        big = int("".join(map(str, [*prefix, hi_digit, *big_rest])))
        small = int("".join(map(str, [*prefix, lo_digit, *small_rest])))
        if (small, big) in seen or not in_split(f"cmp:{small}:{big}", split):
            continue
        seen.add((small, big))
        options = [small, big]
        rng.shuffle(options)
        items.append(
            ChoiceItem(
                id=f"comparison/{language}/{split}/{len(items)}",
                task="inference",
                subtask="comparison",
                language=language,
                context=qa_context(
                    language, "", t["larger"].format(a=options[0], b=options[1])
                ).lstrip("\n"),
                choices=[answer_text(language, str(o)) for o in options],
                answer=options.index(big),
                split=split,
                domain="synthetic",
                meta={"digits": d, "first_difference": p},
            )
        )
    return _finish(items, n, f"comparison/{language}")


_SENTENCE_END = re.compile(r"(?<=[.!?।])\s+|\n+")


def _is_word(token: str) -> bool:
    return len(token) >= 3 and all(unicodedata.category(c)[0] in "LM" for c in token)


def cloze_items(
    docs: list[CorpusDoc],
    language: str,
    n: int,
    split: str,
    seed: int,
    n_choices: int = 4,
    min_words: int = 6,
) -> list[ChoiceItem]:
    """Return up to `n` cloze items cut from corpus sentences, distractors from the same text.

    The context is a sentence up to a word (at least three words in); the choices are that
    word and words of similar length drawn from other sentences of the same language and
    split. Languages written without spaces give no items.
    """
    if language in _UNSPACED_LANGUAGES:
        return []
    rng = _rng(seed, "cloze", language, split)
    sentences = []
    vocab: set[str] = set()
    for doc in docs:
        for sent in _SENTENCE_END.split(doc.text):
            words = sent.split()
            vocab.update(w for w in words if _is_word(w))
            if len(words) >= min_words:
                sentences.append((doc, words))
    vocab_by_len: dict[int, list[str]] = {}
    for w in sorted(vocab):
        vocab_by_len.setdefault(len(w), []).append(w)
    rng.shuffle(sentences)
    items = []
    for doc, words in sentences:
        if len(items) == n:
            break
        positions = [i for i in range(3, len(words)) if _is_word(words[i])]
        if not positions:
            continue
        i = rng.choice(positions)
        target = words[i]
        pool = [
            w
            for k in range(len(target) - 2, len(target) + 3)
            for w in vocab_by_len.get(k, [])
            # Same capitalisation as the target: a capital would give the proper noun away.
            if w.lower() != target.lower()
            and w not in words
            and w[0].isupper() == target[0].isupper()
        ]
        if len(pool) < n_choices - 1:
            continue
        options = [target, *rng.sample(pool, n_choices - 1)]
        rng.shuffle(options)
        items.append(
            ChoiceItem(
                id=f"cloze/{language}/{split}/{len(items)}",
                task="inference",
                subtask="cloze",
                language=language,
                context=" ".join(words[:i]),
                choices=[" " + o for o in options],
                answer=options.index(target),
                split=split,
                domain=doc.domain,
                meta={"document": doc.id},
            )
        )
    return items

"""Which writing system a text is in: the Unicode script of its dominant letters.

Python's unicodedata has no Script property, so the script is read from the character
name ("CYRILLIC SMALL LETTER A" -> Cyrillic), which Unicode names systematically.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

SAMPLE_CHARS = 256  # characters looked at per text, spread evenly over it

# Words in character names that follow the script name ("ARABIC LETTER ALEF").
_AFTER_SCRIPT = frozenset(
    {
        "LETTER", "CAPITAL", "SMALL", "SYLLABLE", "SYLLABICS", "CHARACTER", "IDEOGRAPH",
        "LIGATURE", "VOWEL", "CONSONANT", "HIEROGLYPH", "FINAL", "SUBJOINED",
        "INDEPENDENT", "CHOSEONG", "JUNGSEONG", "JONGSEONG",
    }
)  # fmt: skip


_UNSEEN = object()
_SCRIPT_OF: dict[str, str | None] = {}  # per-character memo for dominant_script (hot loop)


def char_script(ch: str) -> str | None:
    """Return the Unicode script name of a letter (from its character name), else None."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK ", "KANGXI")):
        return "Han"
    if name.startswith("CANADIAN SYLLABICS"):
        return "Canadian Aboriginal"
    if name.startswith(("MATHEMATICAL ", "MODIFIER LETTER")):
        return None  # styled symbols and phonetic modifiers belong to no one script
    words = []
    for word in name.split():
        if word in _AFTER_SCRIPT:
            break
        if not word.isalpha():
            return None
        words.append(word)
    else:
        return None  # no "... LETTER ..." part: an indicator or mark, not a script letter
    if words and words[0] in {"FULLWIDTH", "HALFWIDTH"}:
        words = words[1:]
    return " ".join(words).title() or None


def dominant_script(text: str) -> str | None:
    """Return the Unicode script most letters of `text` belong to (e.g. 'Latin').

    Judged on SAMPLE_CHARS characters taken at an even stride: the whole text is too
    slow to count on a large corpus, and its start alone can be a title in another script.
    """
    sample = text if len(text) <= SAMPLE_CHARS else text[:: len(text) // SAMPLE_CHARS]
    counts: dict[str, int] = {}
    for ch, n in Counter(sample).items():
        script = _SCRIPT_OF.get(ch, _UNSEEN)
        if script is _UNSEEN:
            script = _SCRIPT_OF[ch] = char_script(ch)
        if script:
            counts[script] = counts.get(script, 0) + n
    # Ties go to the script seen first (Counter keeps first-appearance order).
    return max(counts, key=counts.__getitem__) if counts else None

"""Dominant Unicode script of a text, from character names."""

from __future__ import annotations

import pytest

from tokattn.corpus.unicode_script import char_script, dominant_script


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("The quick brown fox", "Latin"),
        ("Съешь же ещё этих мягких булок", "Cyrillic"),
        ("人人生而自由，在尊严和权利上一律平等。", "Han"),
        ("يولد جميع الناس أحرارًا", "Arabic"),
        ("सभी मनुष्यों को गौरव और अधिकारों", "Devanagari"),
        ("모든 인간은 태어날 때부터", "Hangul"),
        ("Δεν θα ήθελα", "Greek"),
        ("12345 !?", None),
        ("Москва (Moscow) — столица России", "Cyrillic"),
    ],
)
def test_dominant_script(text, script):
    assert dominant_script(text) == script


def test_non_script_letters_have_no_script():
    # feminine ordinal, modifier letter apostrophe, mathematical bold A, iteration mark
    assert {char_script(c) for c in "ª\u02bc\U0001d400ゝ"} == {None}
    assert char_script("ｶ") == "Katakana" and char_script("Ａ") == "Latin"

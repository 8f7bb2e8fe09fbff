"""The parity metric's parallel text: the same messages in every language."""

from __future__ import annotations

from tokattn.corpus.unicode_script import dominant_script
from tokattn.tokenizing.parallel_text import parallel_texts


def test_parallel_texts_are_the_same_messages_in_every_language():
    texts = parallel_texts()
    assert {"en", "ru", "zh", "ar", "hi", "ja", "ko", "fr", "de", "el", "he", "th"} <= set(texts)
    assert len(texts) >= 40
    en_lines = texts["en"].split("\n")
    assert len(en_lines) >= 20 and "This field is required." in en_lines
    # Parallel means line i is the same message everywhere: the same line count.
    counts = {lang: len(t.split("\n")) for lang, t in texts.items()}
    assert set(counts.values()) == {len(en_lines)}, counts
    assert all(line.strip() for t in texts.values() for line in t.split("\n"))
    # Translations, not copies of the English: most lines differ in every language.
    for lang, text in texts.items():
        if lang != "en":
            same = sum(a == b for a, b in zip(text.split("\n"), en_lines, strict=True))
            assert same <= len(en_lines) // 10, (lang, same)
    index = en_lines.index("This field is required.")
    assert "Feld" in texts["de"].split("\n")[index]
    assert "champ" in texts["fr"].split("\n")[index]
    scripts = {dominant_script(t) for t in texts.values()}
    assert {
        "Latin",
        "Cyrillic",
        "Arabic",
        "Han",
        "Greek",
        "Hebrew",
        "Devanagari",
        "Thai",
    } <= scripts
    assert len(scripts) >= 10

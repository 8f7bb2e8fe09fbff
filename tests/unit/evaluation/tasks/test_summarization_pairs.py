"""Stdlib docstring pairs: PEP 257 summary line → body, substantial bodies, no corpus leaks."""

from __future__ import annotations

from tokattn.evaluation.tasks.summarization import docstring_pair, stdlib_docstring_items

BODY = "This function does several things.\n\n" + "It explains them at length. " * 20


def test_pair_is_first_line_and_body():
    body, summary = docstring_pair(f"Return the answer.\n\n{BODY}", 100, 5000, 200)
    assert summary == "Return the answer."
    assert body.startswith("This function") and "Return the answer" not in body


def test_rejects_short_bodies_and_multiline_summaries():
    assert docstring_pair("Return x.\n\nShort body.", 100, 5000, 200) is None
    assert docstring_pair(f"Return x and\ncontinue here.\n\n{BODY}", 100, 5000, 200) is None
    assert docstring_pair("Only a summary line.", 1, 5000, 200) is None


def test_long_bodies_are_cut_at_a_boundary():
    body, _ = docstring_pair(f"Return the value.\n\n{BODY}\n\nMore.\n\n{BODY}", 100, 300, 200)
    assert 100 <= len(body.encode()) <= 300


def test_stdlib_items_are_real_and_exclude_the_training_corpus():
    items = stdlib_docstring_items(8, "eval", seed=0, min_body_bytes=200)
    assert len(items) == 8
    for it in items:
        assert it.language == "en" and len(it.summaries) == 1
        assert len(it.document.encode()) >= 200
    leaked = items[0].summaries[0]
    kept = stdlib_docstring_items(8, "eval", seed=0, min_body_bytes=200, exclude_text=leaked)
    assert leaked not in {s for it in kept for s in it.summaries}

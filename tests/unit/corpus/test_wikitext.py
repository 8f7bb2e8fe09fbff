"""Wikitext to plain text: markup goes, prose and link labels stay."""

from __future__ import annotations

from tokattn.corpus.wikitext import article_sections, strip_wikitext


def test_templates_with_braces_inside_are_dropped_whole():
    text = "Before {{efn|chars {{Pre2|x| !{|}~ }} more}} after."
    assert strip_wikitext(text) == "Before  after."


def test_links_refs_tables_files_and_emphasis():
    text = (
        "'''Bold''' [[Target|label]] and [[Plain]] <ref name=a>cite</ref>"
        "[https://example.org site] [[File:x.png|thumb|A [[b|caption]] here]]<ref b/>\n"
        "{| class=wikitable\n| cell {{t}}\n|}\n"
        "== Heading ==\n* item &amp; more<!-- hidden -->\n[[Category:Things]]"
    )
    assert strip_wikitext(text) == "Bold label and Plain site\n\nHeading\nitem & more"


def test_article_sections_keep_title_and_skip_references():
    wikitext = "Lead text.\n== History ==\nOld times.\n== References ==\n* a cite\n"
    assert list(article_sections("Topic", wikitext)) == [
        "Topic\n\nLead text.",
        "Topic\n\nHistory\n\nOld times.",
    ]

"""Corpus stage: sources, cleaning, de-duplication, caps, splits, errors, atomic output.

Expected values come from the fixture files and the spec (the split formula, UTF-8
byte counts), computed here independently of tokattn.corpus.build.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import random
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from tokattn.common.config import validate_config
from tokattn.corpus.build import CorpusError, build_corpus
from tokattn.corpus.builtin_text import LICENCES

DATA = Path(__file__).resolve().parents[2] / "data" / "corpus"
SPLITS = ("train", "val", "test")
BUILTINS = {
    "python_docs": "technical",
    "chatterbot": "dialog",
    "udhr": "legal",
    "wikipedia": "encyclopedia",
    "news": "news",
}


def corpus_config(sources: list[dict], **corpus_keys) -> dict:
    """The validated corpus section (defaults filled) for these sources."""
    config = {
        "corpus": {"sources": sources, **corpus_keys},
        "tokenizers": [{"name": "byte", "kind": "byte"}],
    }
    return validate_config(config)["corpus"]


def hf(name: str, builder: str, files, **keys) -> dict:
    return {
        "name": name,
        "type": "hf",
        "path": builder,
        "data_files": files,
        "domain": "test",
        "language": keys.pop("language", "en"),
        **keys,
    }


def outputs(out_dir: Path) -> dict[str, Path]:
    return {s: out_dir / f"{s}.parquet" for s in SPLITS} | {"stats": out_dir / "stats.json"}


def build(out_dir: Path, corpus: dict) -> tuple[dict, pd.DataFrame]:
    """Build into out_dir; return (stats, all rows with a `split` column)."""
    paths = outputs(out_dir)
    stats = build_corpus(corpus, paths["train"], paths["val"], paths["test"], paths["stats"])
    frames = [pd.read_parquet(paths[s]).assign(split=s) for s in SPLITS]
    return stats, pd.concat(frames, ignore_index=True)


def spec_split(text: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    u = int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest(), "big") / 2**256
    if u < test_fraction:
        return "test"
    return "val" if u < test_fraction + val_fraction else "train"


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def contains(texts: pd.Series, pattern: str) -> pd.Series:
    """Python-regex search per text (pandas may hand str.contains to another engine)."""
    return texts.map(lambda t: re.search(pattern, t) is not None).astype(bool)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sentences(n: int, seed: int = 0, tag: str = "") -> list[str]:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "ноль", "東京", "ü"]
    return [f"{tag}{i} " + " ".join(rng.choices(words, k=rng.randint(4, 30))) for i in range(n)]


# --- built-in sources -----------------------------------------------------------------


@pytest.fixture(scope="session")
def builtin_default(tmp_path_factory):
    """The full built-in default (all five, no caps), built once: (stats, rows)."""
    sources = [
        {"name": b, "type": "builtin", "builtin": b, "domain": d} for b, d in BUILTINS.items()
    ]
    return build(tmp_path_factory.mktemp("builtin"), corpus_config(sources))


def test_builtin_default_has_4_domains_10_languages_5_scripts(builtin_default):
    _, rows = builtin_default
    assert rows["domain"].nunique() >= 4
    assert rows["language"].nunique() >= 10
    assert rows["script"].nunique() >= 5
    # Scripts checked independently of the script column, by Unicode block of the letters.
    blocks = {
        "Latin": r"[A-Za-z]",
        "Cyrillic": r"[\u0400-\u04FF]",
        "Arabic": r"[\u0600-\u06FF]",
        "Devanagari": r"[\u0900-\u097F]",
        "Han": r"[\u4E00-\u9FFF]",
        "Hangul": r"[\uAC00-\uD7AF]",
        "Hebrew": r"[\u05D0-\u05EA]",
        "Thai": r"[\u0E01-\u0E3A]",
    }
    present = {name for name, rx in blocks.items() if contains(rows["text"], rx).any()}
    assert len(present) >= 5, present
    assert set(present) <= set(rows["script"])


@pytest.mark.parametrize("builtin", list(BUILTINS))
def test_each_builtin_is_read_and_tagged(builtin_default, builtin):
    stats, rows = builtin_default
    docs = rows[rows["source"] == builtin]
    assert len(docs) > 20
    assert (docs["domain"] == BUILTINS[builtin]).all()
    assert (docs["licence"] == LICENCES[builtin]).all()
    assert docs["language"].map(lambda c: re.fullmatch(r"[a-z]{2,3}(-[a-z]+)?", c)).all()
    assert stats["sources"][builtin]["kept"]["documents"] == len(docs)
    expected_languages = {
        "python_docs": {"en"},
        "chatterbot": {"en", "ru", "zh", "hi", "th", "he"},  # in chatterbot-corpus 1.2 and 1.3
        "udhr": {"en", "ru", "hi", "ar", "zh", "ja", "ko", "el", "he", "am"},
        "wikipedia": {"en", "bg"},
        "news": {"en"},
    }[builtin]
    assert expected_languages <= set(docs["language"])


def test_builtin_contents_are_what_the_packages_ship(builtin_default):
    _, rows = builtin_default
    by_source = {name: set(group["text"]) for name, group in rows.groupby("source")}
    from pydoc_data.topics import topics

    assert topics["assert"].strip() in by_source["python_docs"]
    # news: the Lee corpus is Latin-1; the first article must survive decoded.
    gensim = Path(__import__("importlib").util.find_spec("gensim").submodule_search_locations[0])
    first = (gensim / "test/test_data/lee_background.cor").read_bytes().split(b"\n")[0]
    assert first.decode("latin-1").strip() in by_source["news"]
    wiki = " ".join(by_source["wikipedia"])
    assert "Anarchism" in wiki and "{{" not in wiki and "<ref" not in wiki
    assert any(t.startswith("Григориански календар") for t in by_source["wikipedia"])
    chat = by_source["chatterbot"]
    assert any("\n" in t for t in chat)  # turns joined by newlines


def test_builtin_language_filter(tmp_path):
    src = {
        "name": "chat_ru",
        "type": "builtin",
        "builtin": "chatterbot",
        "domain": "dialog",
        "language": "ru",
    }
    _, rows = build(tmp_path, corpus_config([src]))
    assert len(rows) > 10
    assert set(rows["language"]) == {"ru"}
    assert contains(rows["text"], r"[\u0400-\u04FF]").mean() > 0.9


# --- hf sources -------------------------------------------------------------------------


def test_hf_text_reads_lines_normalised_deduplicated_and_filtered(tmp_path):
    corpus = corpus_config([hf("txt", "text", str(DATA / "docs.txt"))], min_doc_bytes=16)
    stats, rows = build(tmp_path, corpus)
    lines = (DATA / "docs.txt").read_text(encoding="utf-8").split("\n")[:-1]
    expected = []
    for line in lines:
        norm = unicodedata.normalize("NFC", line)
        if nbytes(norm) >= 16 and norm not in expected:
            expected.append(norm)
    assert sorted(rows["text"]) == sorted(expected)
    st = stats["sources"]["txt"]
    assert st["read"]["documents"] == len(lines)
    assert st["dropped_duplicates"]["documents"] == 1
    assert st["dropped_too_short"]["documents"] == 2  # "short" and the empty line
    assert (rows["n_bytes"] == rows["text"].map(nbytes)).all()
    assert set(rows["language"]) == {"en"} and set(rows["source"]) == {"txt"}


def test_hf_json_with_language_field(tmp_path):
    src = hf(
        "js",
        "json",
        str(DATA / "docs.jsonl"),
        language="auto",
        language_field="lang",
        licence="CC0-1.0",
    )
    _, rows = build(tmp_path, corpus_config([src]))
    records = [json.loads(line) for line in (DATA / "docs.jsonl").read_text().splitlines()]
    expected = {r["text"]: r["lang"] for r in records if nbytes(r["text"]) >= 16}
    assert dict(zip(rows["text"], rows["language"], strict=True)) == expected
    assert set(rows["licence"]) == {"CC0-1.0"}


def test_hf_csv_with_other_text_field(tmp_path):
    src = hf("tab", "csv", [str(DATA / "docs.csv")], text_field="body")
    _, rows = build(tmp_path, corpus_config([src]))
    with open(DATA / "docs.csv", newline="", encoding="utf-8") as fh:
        expected = {r["body"] for r in csv.DictReader(fh)}
    assert set(rows["text"]) == expected
    assert any("\n" in t for t in rows["text"])  # a quoted multi-line field stays one row


def test_hf_parquet(tmp_path):
    _, rows = build(tmp_path, corpus_config([hf("pq", "parquet", str(DATA / "docs.parquet"))]))
    expected = set(pd.read_parquet(DATA / "docs.parquet")["text"])
    assert set(rows["text"]) == expected


def test_data_files_are_relative_to_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(DATA.parent)
    src = hf("rel", "json", ["corpus/docs.jsonl", "corpus/docs*.jsonl"])
    stats, rows = build(tmp_path / "out", corpus_config([src]))
    assert stats["sources"]["rel"]["dropped_duplicates"]["documents"] == 3  # read twice
    assert len(rows) == 3


def test_hub_is_not_reached_without_hub_true(tmp_path):
    corpus = corpus_config([hf("ok", "text", str(DATA / "docs.txt"))])
    corpus["sources"][0] |= {"path": "someone/some-dataset", "hub": False}  # bypass validation
    with pytest.raises(CorpusError, match="hub"):
        build(tmp_path, corpus)


# --- cleaning ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "source_text", "expected"),
    [
        ("NFC", "Cafe\u0301 is open all day long", "Caf\u00e9 is open all day long"),
        ("NFKC", "The \ufb01rst of\u00a0many ligatures", "The first of many ligatures"),
        ("none", "Cafe\u0301 is open all day long", "Cafe\u0301 is open all day long"),
    ],
)
def test_unicode_normalisation(tmp_path, form, source_text, expected):
    path = write_lines(tmp_path / "n.txt", [source_text])
    _, rows = build(
        tmp_path / "out", corpus_config([hf("n", "text", str(path))], normalization=form)
    )
    assert list(rows["text"]) == [expected]
    assert list(rows["n_bytes"]) == [nbytes(expected)]


def test_dedup_across_sources_keeps_first_source(tmp_path):
    shared = "Ce café est partagé par les deux sources."
    a = write_lines(tmp_path / "a.txt", [shared, "Only in source A, long enough."])
    # The same text decomposed (NFD): equal to the first only after normalisation.
    decomposed = unicodedata.normalize("NFD", shared)
    assert decomposed != shared
    b = write_lines(tmp_path / "b.txt", [decomposed, "Only in B here, long enough."])
    corpus = corpus_config([hf("a", "text", str(a)), hf("b", "text", str(b))])
    stats, rows = build(tmp_path / "out", corpus)
    assert list(rows[rows["text"] == shared]["source"]) == ["a"]
    assert stats["sources"]["b"]["dropped_duplicates"]["documents"] == 1
    corpus_nodedup = corpus_config([hf("a", "text", str(a)), hf("b", "text", str(b))], dedup=False)
    _, rows = build(tmp_path / "out2", corpus_nodedup)
    assert (rows["text"] == shared).sum() == 2


def test_min_doc_bytes_counts_utf8_bytes(tmp_path):
    # 5 characters but 10 bytes; 9 ASCII bytes; exactly 10 ASCII bytes.
    path = write_lines(tmp_path / "m.txt", ["ééééé", "123456789", "0123456789"])
    stats, rows = build(
        tmp_path / "out", corpus_config([hf("m", "text", str(path))], min_doc_bytes=10)
    )
    assert set(rows["text"]) == {"ééééé", "0123456789"}
    assert stats["sources"]["m"]["dropped_too_short"] == {"documents": 1, "bytes": 9}


# --- max_bytes -----------------------------------------------------------------------------


def test_max_bytes_cap_is_respected_filled_and_order_independent(tmp_path):
    docs = sentences(300)
    cap = sum(map(nbytes, docs)) // 3
    kept = []
    for i, order in enumerate(
        [docs, list(reversed(docs)), random.Random(5).sample(docs, len(docs))]
    ):
        path = write_lines(tmp_path / f"c{i}.txt", order)
        stats, rows = build(
            tmp_path / f"out{i}", corpus_config([hf("c", "text", str(path), max_bytes=cap)])
        )
        total = int(rows["n_bytes"].sum())
        assert total <= cap
        chosen = set(rows["text"])
        left_out = [d for d in docs if d not in chosen]
        assert cap - total < min(map(nbytes, left_out))  # nothing left out would still fit
        st = stats["sources"]["c"]
        assert st["dropped_by_max_bytes"]["bytes"] == sum(map(nbytes, left_out))
        assert st["kept"]["bytes"] == total
        kept.append(set(rows["text"]))
    assert kept[0] == kept[1] == kept[2]  # chosen by content, not by position
    # Representative: the kept documents are spread over the whole input, not a prefix.
    positions = sorted(docs.index(t) for t in kept[0])
    assert positions[0] < 30 and positions[-1] > 270


def test_max_bytes_choice_is_stable_when_unchosen_documents_go(tmp_path):
    docs = sentences(200, seed=1)
    cap = sum(map(nbytes, docs)) // 2
    path = write_lines(tmp_path / "all.txt", docs)
    _, rows = build(tmp_path / "o1", corpus_config([hf("c", "text", str(path), max_bytes=cap)]))
    chosen = set(rows["text"])
    fewer = [d for i, d in enumerate(docs) if d in chosen or i % 2]
    path2 = write_lines(tmp_path / "fewer.txt", fewer)
    _, rows2 = build(tmp_path / "o2", corpus_config([hf("c", "text", str(path2), max_bytes=cap)]))
    assert chosen <= set(rows2["text"])


def test_max_bytes_does_not_bias_the_split(tmp_path):
    docs = sentences(3000, seed=2)
    path = write_lines(tmp_path / "d.txt", docs)
    cap = sum(map(nbytes, docs)) // 10
    _, rows = build(tmp_path / "o", corpus_config([hf("c", "text", str(path), max_bytes=cap)]))
    share = (rows["split"] == "test").mean()
    assert 0.05 < share < 0.16  # test_fraction 0.1 of ~300 documents


# --- splits ---------------------------------------------------------------------------------


def test_split_follows_the_seeded_hash_formula(tmp_path):
    docs = sentences(1000, seed=3)
    path = write_lines(tmp_path / "d.txt", docs)
    corpus = corpus_config(
        [hf("d", "text", str(path))], seed=7, val_fraction=0.2, test_fraction=0.1
    )
    stats, rows = build(tmp_path / "o", corpus)
    expected = {t: spec_split(t, 7, 0.2, 0.1) for t in docs}
    assert dict(zip(rows["text"], rows["split"], strict=True)) == expected
    shares = rows["split"].value_counts(normalize=True)
    assert abs(shares["test"] - 0.1) < 0.035 and abs(shares["val"] - 0.2) < 0.045
    for split in SPLITS:
        part = rows[rows["split"] == split]
        assert stats["splits"][split]["documents"] == len(part)
        assert stats["splits"][split]["bytes"] == part["n_bytes"].sum()


def test_split_is_stable_when_other_documents_change(tmp_path):
    docs = sentences(400, seed=4)
    others = sentences(400, seed=5, tag="other ")
    a = write_lines(tmp_path / "a.txt", docs)
    b = write_lines(tmp_path / "b.txt", others[:200] + docs[::2] + others[200:])
    _, rows_a = build(tmp_path / "oa", corpus_config([hf("d", "text", str(a))]))
    _, rows_b = build(tmp_path / "ob", corpus_config([hf("d", "text", str(b))]))
    split_a = dict(zip(rows_a["text"], rows_a["split"], strict=True))
    split_b = dict(zip(rows_b["text"], rows_b["split"], strict=True))
    assert all(split_b[t] == split_a[t] for t in docs[::2])


def test_same_seed_same_split_different_seed_different_split(tmp_path):
    path = write_lines(tmp_path / "d.txt", sentences(300, seed=6))
    runs = {}
    for name, seed in [("a", 11), ("b", 11), ("c", 12)]:
        _, rows = build(tmp_path / name, corpus_config([hf("d", "text", str(path))], seed=seed))
        runs[name] = dict(zip(rows["text"], rows["split"], strict=True))
        ids = dict(zip(rows["text"], rows["id"], strict=True))
        runs[name + "_ids"] = ids
    assert runs["a"] == runs["b"]
    moved = sum(runs["a"][t] != runs["c"][t] for t in runs["a"])
    assert moved > 20
    assert runs["a_ids"] == runs["c_ids"]  # the id depends on the text only
    assert len(set(runs["a_ids"].values())) == len(runs["a_ids"])
    assert all(len(i) >= 16 and int(i, 16) >= 0 for i in runs["a_ids"].values())


# --- bad input ------------------------------------------------------------------------------


def assert_build_fails(tmp_path: Path, sources: list[dict], *fragments: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(CorpusError) as info:
        build(out, corpus_config(sources))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert not out.exists() or list(out.iterdir()) == []  # atomic: nothing left behind


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nope.jsonl")
    assert_build_fails(tmp_path, [hf("gone", "json", missing)], "'gone'", "nope.jsonl", "not found")


def test_glob_matching_nothing(tmp_path):
    pattern = str(tmp_path / "none-*.txt")
    assert_build_fails(tmp_path, [hf("glob", "text", pattern)], "'glob'", "none-*.txt")


@pytest.mark.parametrize("fixture", ["empty.txt", "header_only.csv"])
def test_empty_source(tmp_path, fixture):
    builder = "csv" if fixture.endswith(".csv") else "text"
    assert_build_fails(
        tmp_path, [hf("void", builder, str(DATA / fixture))], "'void'", fixture, "empty"
    )


def test_missing_text_field_names_field_and_columns(tmp_path):
    src = hf("nf", "json", str(DATA / "no_text_field.jsonl"))
    assert_build_fails(tmp_path, [src], "'nf'", "no_text_field.jsonl", "'text'", "body", "lang")


def test_missing_language_field(tmp_path):
    src = hf("nl", "json", str(DATA / "docs.jsonl"), language="auto", language_field="language")
    assert_build_fails(tmp_path, [src], "'nl'", "docs.jsonl", "'language'", "lang")


def test_null_text_names_the_row(tmp_path):
    src = hf("nul", "json", str(DATA / "null_text.jsonl"))
    assert_build_fails(tmp_path, [src], "'nul'", "null_text.jsonl", "row 2")


def test_non_string_text(tmp_path):
    src = hf("num", "json", str(DATA / "int_text.jsonl"))
    assert_build_fails(tmp_path, [src], "'num'", "int_text.jsonl", "row 0", "int")


def test_bad_utf8_names_file_and_byte_offset(tmp_path):
    raw = (DATA / "bad_utf8.txt").read_bytes()
    # First offset at which the bytes stop being UTF-8, found by growing prefixes.
    offset = next(i for i in range(len(raw)) if not _is_utf8_prefix(raw[: i + 1]))
    assert raw[offset] == 0xFF
    src = hf("bad", "text", str(DATA / "bad_utf8.txt"))
    assert_build_fails(tmp_path, [src], "'bad'", "bad_utf8.txt", f"byte offset {offset}")


def _is_utf8_prefix(data: bytes) -> bool:
    """True if `data` is valid UTF-8 or could become so with more bytes appended."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
        return True
    except UnicodeDecodeError:
        return False


def test_bad_utf8_in_a_later_chunk(tmp_path, monkeypatch):
    import tokattn.corpus.hf_source as hf_source

    monkeypatch.setattr(hf_source, "_SCAN_CHUNK_BYTES", 7)  # splits characters across chunks
    prefix = "ünïcödé ✓ 你好 " * 5
    path = tmp_path / "late.txt"
    path.write_bytes(prefix.encode() + b"\xc3\x28 tail\n")
    assert hf_source.first_invalid_utf8_offset(path) == nbytes(prefix)
    truncated = tmp_path / "trunc.txt"
    truncated.write_bytes(prefix.encode() + "é".encode()[:1])
    assert hf_source.first_invalid_utf8_offset(truncated) == nbytes(prefix)


@pytest.mark.parametrize("policy", ["replace", "skip"])
def test_decode_policies_count_items(tmp_path, policy):
    src = hf("bad", "text", str(DATA / "bad_utf8.txt"), on_decode_error=policy)
    stats, rows = build(tmp_path / "o", corpus_config([src], min_doc_bytes=1))
    raw_lines = (DATA / "bad_utf8.txt").read_bytes().split(b"\n")[:-1]
    bad = [line for line in raw_lines if not _is_utf8_prefix(line)]
    good = [line.decode() for line in raw_lines if line not in bad]
    st = stats["sources"]["bad"]
    if policy == "replace":
        assert st["decode_replaced"] == len(bad) == 2 and st["decode_skipped"] == 0
        assert set(rows["text"]) == set(good) | {b.decode("utf-8", "replace") for b in bad}
        assert contains(rows["text"], "\ufffd").sum() == 2
    else:
        assert st["decode_skipped"] == 2 and st["decode_replaced"] == 0
        assert set(rows["text"]) == set(good)


# --- outputs ----------------------------------------------------------------------------------


def test_failed_build_leaves_no_outputs(tmp_path):
    good = hf("good", "text", str(DATA / "docs.txt"))
    bad = hf("bad", "text", str(DATA / "bad_utf8.txt"))
    out = tmp_path / "out"
    with pytest.raises(CorpusError):
        build(out, corpus_config([good, bad]))
    assert list(out.iterdir()) == []


def test_outputs_schema_and_stats(tmp_path):
    corpus = corpus_config(
        [
            hf("txt", "text", str(DATA / "docs.txt")),
            hf(
                "js",
                "json",
                str(DATA / "docs.jsonl"),
                language="auto",
                language_field="lang",
                domain="web",
            ),
        ]
    )
    stats, rows = build(tmp_path, corpus)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stats.json",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]
    assert stats == json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))
    for column in ["id", "text", "source", "domain", "language", "licence", "n_bytes"]:
        assert column in rows.columns
    assert stats["total"] == {"documents": len(rows), "bytes": int(rows["n_bytes"].sum())}
    assert stats["languages"] == sorted(set(rows["language"]))
    assert stats["domains"] == ["test", "web"]
    assert {"Latin", "Cyrillic"} <= set(stats["scripts"])
    for split in SPLITS:
        part = rows[rows["split"] == split]
        cells = stats["splits"][split]["by_language_domain"]
        for (lang, dom), group in part.groupby(["language", "domain"]):
            assert cells[lang][dom] == {"documents": len(group), "bytes": group["n_bytes"].sum()}
    for name in ("txt", "js"):
        kept = rows[rows["source"] == name]
        assert stats["sources"][name]["kept"]["documents"] == len(kept)
        by_split = stats["sources"][name]["by_split"]
        assert sum(v["documents"] for v in by_split.values()) == len(kept)


def test_replace_in_json_lines_keeps_the_record(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        b'{"text": "a clean record of json text"}\n{"text": "a record with a \xe9 latin-1 byte"}\n'
    )
    src = hf("js", "json", str(path), on_decode_error="replace")
    stats, rows = build(tmp_path / "o", corpus_config([src]))
    assert stats["sources"]["js"]["decode_replaced"] == 1
    assert set(rows["text"]) == {
        "a clean record of json text",
        "a record with a \ufffd latin-1 byte",
    }

"""Tokenizer metrics: each number against a hand computation or tokenization_scorer."""

from __future__ import annotations

import json
import math
import sys

import pandas as pd
import pytest

from tokattn.tokenizing.metrics import (
    compute_tokenizer_metrics,
    count_words,
    metrics_table,
    renyi_efficiency,
    tokenizer_metrics,
    write_metrics_table,
)
from tokattn.tokenizing.tokenization import train_tokenizer

# the cat sat | the <unk> sat on the mat | <unk> cat
DOCS = pd.DataFrame(
    {
        "text": ["the cat sat", "the dog sat on the mat", "猫 cat"],
        "language": ["en", "en", "zh"],
        "domain": ["news", "web", "news"],
    }
)
WORD_VOCAB = ["<s>", "</s>", "<pad>", "<unk>", "the", "cat", "sat", "on", "mat"]


@pytest.fixture(scope="module")
def word_tokenizer():
    """A whitespace word-level tokenizer: its tokens can be counted by hand."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORD_VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(WORD_VOCAB[:4])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


@pytest.fixture(scope="module")
def byte_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok") / "byte"
    train_tokenizer({"name": "byte", "kind": "byte"}, "unused.parquet", out)
    return out


def _group(metrics, level, language="all", domain="all"):
    (group,) = [
        g
        for g in metrics["groups"]
        if (g["level"], g["language"], g["domain"]) == (level, language, domain)
    ]
    return group


def _renyi_by_hand(counts: list[int], alpha=2.5, n_types=None) -> float:
    total = sum(counts)
    entropy = math.log(sum((c / total) ** alpha for c in counts)) / (1 - alpha)
    return entropy / math.log(n_types or len(counts))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, world!", 2),
        ("don't stop_me now 42", 5),  # don, t, stop_me, now, 42
        ("日本語", 3),
        ("日本語 hello", 4),
        ("สวัสดี", 4),  # ส ว ส ด: the two vowel signs are combining marks
        ("नमस्ते दुनिया", 2),  # Devanagari vowel signs and virama stay inside the word
        ("مرحبا بالعالم", 2),
        ("emoji 🙂 — and …", 2),
        ("", 0),
    ],
)
def test_count_words(text, words):
    assert count_words(text) == words


def test_group_metrics_by_hand(word_tokenizer):
    m = tokenizer_metrics(word_tokenizer, DOCS, None)
    overall = _group(m, "overall")
    # tokens: [the cat sat] [the <unk> sat on the mat] [<unk> cat]
    assert (overall["n_docs"], overall["n_tokens"], overall["n_words"]) == (3, 11, 11)
    assert overall["n_bytes"] == 11 + 22 + 7 and overall["n_chars"] == 11 + 22 + 5
    assert overall["bytes_per_token"] == pytest.approx(40 / 11)
    assert overall["chars_per_token"] == pytest.approx(38 / 11)
    assert overall["fertility"] == pytest.approx(1.0)
    assert overall["unk_rate"] == pytest.approx(2 / 11)
    assert overall["n_types"] == 6
    assert overall["vocab_utilisation"] == pytest.approx(6 / 9)
    assert overall["roundtrip_fidelity"] == pytest.approx(1 / 3)  # <unk> loses "dog", "猫"
    # the x3, cat x2, sat x2, <unk> x2, on, mat
    assert overall["renyi_efficiency"] == pytest.approx(_renyi_by_hand([3, 2, 2, 2, 1, 1]))
    assert overall["renyi_efficiency_vocab"] == pytest.approx(
        _renyi_by_hand([3, 2, 2, 2, 1, 1], n_types=9)
    )

    zh = _group(m, "language", "zh")
    assert (zh["n_docs"], zh["n_tokens"], zh["n_words"], zh["n_bytes"]) == (1, 2, 2, 7)
    assert zh["unk_rate"] == 0.5 and zh["roundtrip_fidelity"] == 0.0
    news = _group(m, "domain", domain="news")
    assert (news["n_docs"], news["n_tokens"]) == (2, 5)
    en_web = _group(m, "language_domain", "en", "web")
    assert (en_web["n_tokens"], en_web["unk_rate"]) == (6, pytest.approx(1 / 6))
    assert {(g["level"]) for g in m["groups"]} == {
        "overall",
        "language",
        "domain",
        "language_domain",
    }
    assert len(m["groups"]) == 1 + 2 + 2 + 3
    for level in ("language", "domain", "language_domain"):
        parts = [g for g in m["groups"] if g["level"] == level]
        for key in ("n_docs", "n_tokens", "n_bytes", "n_words"):
            assert sum(g[key] for g in parts) == overall[key]
    assert "bytes_per_token" in m["per_token"] and "fertility" not in m["per_token"]
    assert "Han" in m["notes"]["words"] and "parity omitted" in m["notes"]["parity"]
    assert m["parity"] is None


def test_renyi_matches_tokenization_scorer(byte_dir):
    scorer = pytest.importorskip("tokenization_scorer")
    from tokattn.tokenizing.tokenization import load_tokenizer

    tok = load_tokenizer(byte_dir)
    texts = [
        "All human beings are born free and equal in dignity and rights.",
        "Все люди рождаются свободными и равными в своем достоинстве и правах.",
        "人人生而自由,在尊严和权利上一律平等。🙂",
    ]
    df = pd.DataFrame({"text": texts, "language": ["en", "ru", "zh"], "domain": "legal"})
    m = tokenizer_metrics(tok, df, None)
    for group, docs in ((_group(m, "overall"), texts), (_group(m, "language", "ru"), texts[1:2])):
        lines = [" ".join(map(str, tok(t, add_special_tokens=False)["input_ids"])) for t in docs]
        expected = scorer.score(lines, metric="renyi", power=2.5)
        assert group["renyi_efficiency"] == pytest.approx(expected, rel=1e-9)
        expected_vocab = scorer.score(lines, metric="renyi", power=2.5, vocab=len(tok))
        assert group["renyi_efficiency_vocab"] == pytest.approx(expected_vocab, rel=1e-9)
        assert group["bytes_per_token"] == 1.0  # byte tokenizer: one token per byte
    assert renyi_efficiency([5]) is None  # one type: log|V| = 0


def test_parity_against_english(word_tokenizer):
    parallel = {"en": "the cat sat", "fr": "the cat sat on the mat", "de": "mat"}
    m = tokenizer_metrics(word_tokenizer, DOCS, parallel)
    langs = m["parity"]["languages"]
    assert m["parity"]["reference_language"] == "en"
    assert {k: v["parity"] for k, v in langs.items()} == {
        "de": pytest.approx(1 / 3),
        "en": 1.0,
        "fr": 2.0,
    }
    assert langs["fr"]["n_tokens"] == 6 and langs["fr"]["n_bytes"] == 22
    no_en = tokenizer_metrics(word_tokenizer, DOCS, {"fr": "the"})
    assert no_en["parity"] is None and "no English" in no_en["notes"]["parity"]


def test_compute_writes_json_and_falls_back_without_builtin_text(byte_dir, tmp_path, monkeypatch):
    test_parquet = tmp_path / "test.parquet"
    DOCS.to_parquet(test_parquet)
    out = tmp_path / "m" / "metrics.json"
    m = compute_tokenizer_metrics(
        byte_dir, test_parquet, out, parallel_texts={"en": "ab", "fr": "abc"}
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(m))
    assert m["tokenizer"] == "byte" and m["kind"] == "byte" and len(m["tokenizer_sha256"]) == 64
    assert m["parity"]["languages"]["fr"]["parity"] == 1.5
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temp file left

    monkeypatch.setitem(sys.modules, "tokattn.tokenizing.parallel_text", None)  # import now fails
    m = compute_tokenizer_metrics(byte_dir / "tokenizer.json", test_parquet, out)
    assert m["parity"] is None and "unavailable" in m["notes"]["parity"]


def test_metrics_table(word_tokenizer, byte_dir, tmp_path):
    test_parquet = tmp_path / "test.parquet"
    DOCS.to_parquet(test_parquet)
    parallel = {"en": "the cat sat", "zh": "猫 cat"}
    byte_json = tmp_path / "byte" / "metrics.json"
    compute_tokenizer_metrics(byte_dir, test_parquet, byte_json, parallel_texts=parallel)
    word_json = tmp_path / "words" / "metrics.json"
    word_json.parent.mkdir()
    word_json.write_text(json.dumps(tokenizer_metrics(word_tokenizer, DOCS, parallel)))

    out_csv = tmp_path / "metrics.csv"
    table = write_metrics_table([byte_json, word_json], out_csv)
    assert len(table) == 2 * 8
    assert set(table["tokenizer"]) == {"byte", "words"}
    assert pd.read_csv(out_csv).shape == table.shape
    overall = table[(table.language == "all") & (table.domain == "all")]
    assert len(overall) == 2 and set(overall["level"]) == {"overall"}
    zh = table[(table.tokenizer == "words") & (table.language == "zh")].set_index("level")
    assert zh.loc["language", "parity"] == pytest.approx(2 / 3)
    assert pd.isna(zh.loc["language_domain", "parity"])  # parity is per language only
    assert metrics_table([byte_json]).equals(
        table[table.tokenizer == "byte"].reset_index(drop=True)
    )


def test_wordpiece_round_trip_loses_whitespace_and_punctuation_spacing(tmp_path):
    # Why WordPiece's roundtrip_fidelity is near 0 on real text (not a bug in the measure):
    # its decoder joins tokens with one space, so punctuation and newlines do not come back.
    from tokattn.tokenizing.folder import load_tokenizer

    text = ["Hello, world. The cat sat on the mat.\nThe dog ran.", "the cat sat"] * 30
    train = tmp_path / "t.parquet"
    pd.DataFrame({"text": text, "language": "en", "domain": "news"}).to_parquet(train)
    spec = {"name": "wp", "kind": "wordpiece", "vocab_size": 200, "min_frequency": 1}
    train_tokenizer(spec, train, tmp_path / "wp")
    tok = load_tokenizer(tmp_path / "wp")
    ids = tok("Hello, world.\nThe cat", add_special_tokens=False)["input_ids"]
    back = tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert back == "Hello , world . The cat"
    docs = pd.DataFrame({"text": ["Hello, world.", "the cat sat"], "language": "en", "domain": "n"})
    m = tokenizer_metrics(tok, docs, None)
    (overall,) = [g for g in m["groups"] if g["level"] == "overall"]
    assert overall["roundtrip_fidelity"] == 0.5  # only the punctuation-free document survives

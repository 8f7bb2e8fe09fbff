"""The local ROUGE module: identical to rouge-score on English, sensible on CJK and Hindi."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from tokattn.evaluation.metrics import ROUGE_PATH, load_rouge

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
ENGLISH = [
    (
        "The cat sat on the mat and looked at the door.",
        "A cat was sitting on the mat, looking at the door!",
    ),
    ("Return the absolute value of a number.", "Return the absolute value of the argument."),
    (
        "Compile all .py files in a directory tree.\nSkip files that are up to date.",
        "Byte-compile every Python file under a directory.\nUp-to-date files are skipped.",
    ),
    ("Stocks fell sharply on Monday's news.", "completely unrelated words here"),
]


@pytest.fixture(scope="module")
def rouge():
    return load_rouge()


def test_loads_from_the_repository_not_the_hub(rouge):
    assert (ROUGE_PATH / "rouge.py").is_file()
    assert rouge.name == "rouge"


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_english_matches_rouge_score(rouge, use_stemmer):
    preds = [p for p, _ in ENGLISH]
    refs = [r for _, r in ENGLISH]
    ours = rouge.compute(
        predictions=preds, references=refs, use_aggregator=False, use_stemmer=use_stemmer
    )
    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=use_stemmer)
    for k, (pred, ref) in enumerate(ENGLISH):
        direct = scorer.score(ref, pred)
        for key in TYPES:
            assert ours[key][k] == pytest.approx(direct[key].fmeasure, abs=1e-12), (key, k)


def test_english_aggregate_matches_rouge_score_mean(rouge):
    preds = [p for p, _ in ENGLISH]
    refs = [r for _, r in ENGLISH]
    agg = rouge.compute(predictions=preds, references=refs)
    scorer = rouge_scorer.RougeScorer(TYPES)
    mean = sum(scorer.score(r, p)["rouge1"].fmeasure for p, r in ENGLISH) / len(ENGLISH)
    assert agg["rouge1"] == pytest.approx(mean, abs=0.05)  # bootstrap mid ≈ mean


def test_multiple_references_take_the_best(rouge):
    out = rouge.compute(
        predictions=["the cat sat"], references=[["a dog ran", "the cat sat"]], use_aggregator=False
    )
    assert out["rouge1"] == [pytest.approx(1.0)]


@pytest.mark.parametrize(
    ("same", "partial", "unrelated"),
    [
        (
            "猫坐在垫子上。",
            ("猫坐在垫子上。", "一只猫在垫子上睡觉。"),
            ("猫坐在垫子上。", "股市今天大幅下跌"),
        ),
        (
            "राम ने किताब पढ़ी।",
            ("राम ने आज एक किताब पढ़ी।", "राम ने किताब पढ़ी।"),
            ("राम ने किताब पढ़ी।", "मौसम बहुत अच्छा है"),
        ),
    ],
    ids=["chinese", "hindi"],
)
def test_non_latin_scripts_score_sensibly(rouge, same, partial, unrelated):
    # rouge-score's own tokenizer keeps only [a-z0-9]: every score is 0 on these texts.
    assert rouge_scorer.RougeScorer(["rouge1"]).score(same, same)["rouge1"].fmeasure == 0.0
    full = rouge.compute(predictions=[same], references=[same], use_aggregator=False)
    part = rouge.compute(predictions=[partial[0]], references=[partial[1]], use_aggregator=False)
    none = rouge.compute(
        predictions=[unrelated[0]], references=[unrelated[1]], use_aggregator=False
    )
    for key in TYPES:
        assert full[key][0] == pytest.approx(1.0)
        assert 0.0 < part[key][0] < 1.0 or key == "rouge2" and part[key][0] < 1.0
        assert none[key][0] < part[key][0]
    assert part["rouge1"][0] > 0.3
    assert none["rouge1"][0] == 0.0


def test_hindi_words_keep_their_vowel_signs():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("tokattn_rouge", ROUGE_PATH / "rouge.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    tok = module.ScriptAwareTokenizer()
    assert tok.tokenize("राम ने किताब पढ़ी।") == ["राम", "ने", "किताब", "पढ़ी"]
    assert tok.tokenize("猫坐在垫子上") == list("猫坐在垫子上")
    assert tok.tokenize("Don't stop_now, 42x!") == ["don", "t", "stop", "now", "42x"]

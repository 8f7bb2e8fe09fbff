"""ROUGE for `evaluate`, loaded from this folder: script-aware tokens, no hub access.

`evaluate.load("rouge")` fetches its script from the Hugging Face hub, and the
`rouge-score` tokenizer it uses keeps only ``[a-z0-9]`` — Chinese, Hindi, Russian and
every other non-Latin text scores zero. This module is a drop-in replacement with the
same `compute` arguments and outputs; it wraps `rouge_score.rouge_scorer.RougeScorer`
with a tokenizer that

- lowercases and splits on every character that is not a letter, mark or digit (for
  ASCII text this yields exactly rouge-score's tokens, so English scores are identical);
- keeps letters of every script together with their combining marks (Devanagari vowel
  signs, Arabic harakat), so Hindi or Russian words stay words;
- makes every character of scripts written without spaces (Han, Hiragana, Katakana,
  Thai, Lao, Khmer, Myanmar) its own token, as character-level ROUGE for Chinese does;
- applies the Porter stemmer (``use_stemmer``) only to ASCII words, as rouge-score does.

Load it with ``evaluate.load(<path to this folder>)``; `tokattn.evaluation.metrics.load_rouge()`
does that. The file is copied into the `evaluate` module cache, so it imports nothing
from tokattn.
"""

from __future__ import annotations

import unicodedata

import datasets
import evaluate
from nltk.stem import porter
from rouge_score import rouge_scorer, scoring

_DESCRIPTION = """ROUGE-1/2/L/Lsum (rouge-score) with a script-aware tokenizer for any language."""
_CITATION = """@inproceedings{lin-2004-rouge,
  title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
  author = "Lin, Chin-Yew", booktitle = "Text Summarization Branches Out", year = "2004",
  publisher = "Association for Computational Linguistics", pages = "74--81"}"""
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted summaries (str).
    references: list of reference summaries, one str or a list of str per prediction.
    rouge_types: subset of ["rouge1", "rouge2", "rougeL", "rougeLsum"] (default: all four).
    use_aggregator: return the bootstrap mid F-measure over items (True) or per-item lists.
    use_stemmer: Porter-stem ASCII words longer than 3 characters.
    tokenizer: optional callable str -> list[str] replacing the script-aware tokenizer.
    script_aware: False uses rouge-score's own tokenizer (Latin-only), for comparison.
Returns:
    {rouge_type: F-measure} (floats, or lists of floats with use_aggregator=False).
Examples:
    >>> rouge = evaluate.load("path/to/tokattn/evaluation/metrics/rouge")
    >>> rouge.compute(predictions=["猫坐在垫子上"], references=["猫在垫子上"])["rouge1"] > 0
    True
"""

# Scripts written without spaces between words: every character is a token.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B.., supplementary ideographs
)


def _unspaced(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _UNSPACED_RANGES)


class ScriptAwareTokenizer:
    """rouge-score tokenizer (``tokenize(text) -> list[str]``) for text in any script."""

    def __init__(self, use_stemmer: bool = False):
        self._stemmer = porter.PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        """Return the lowercased word (or single-character, for unspaced scripts) tokens."""
        tokens: list[str] = []
        word: list[str] = []
        for ch in text.lower():
            cat = unicodedata.category(ch)[0]
            if cat == "M" and (word or tokens):
                # A combining mark belongs to the character before it (Devanagari matras,
                # Thai vowel marks), even when that character was a one-character token.
                if word:
                    word.append(ch)
                else:
                    tokens[-1] += ch
            elif cat in "LN" and _unspaced(ord(ch)):
                if word:
                    tokens.append("".join(word))
                    word = []
                tokens.append(ch)
            elif cat in "LN":
                word.append(ch)
            elif word:
                tokens.append("".join(word))
                word = []
        if word:
            tokens.append("".join(word))
        if self._stemmer is not None:
            # rouge-score stems only words longer than 3 characters; Porter is English-only.
            tokens = [
                self._stemmer.stem(t) if len(t) > 3 and t.isascii() and t.isalpha() else t
                for t in tokens
            ]
        return tokens


class _CallableTokenizer:
    def __init__(self, fn):
        self.tokenize = fn


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    """ROUGE-N/L/Lsum F-measures through rouge-score, tokenized for any script."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(datasets.Value("string", id="sequence")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(
        self,
        predictions,
        references,
        rouge_types=None,
        use_aggregator=True,
        use_stemmer=False,
        tokenizer=None,
        script_aware=True,
    ):
        rouge_types = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        if tokenizer is not None:
            tok = _CallableTokenizer(tokenizer)
        elif script_aware:
            tok = ScriptAwareTokenizer(use_stemmer)
        else:
            tok = None  # rouge-score's DefaultTokenizer
        scorer = rouge_scorer.RougeScorer(
            rouge_types=rouge_types, use_stemmer=use_stemmer, tokenizer=tok
        )
        multi_ref = bool(references) and isinstance(references[0], list)
        aggregator = scoring.BootstrapAggregator() if use_aggregator else None
        per_item = {k: [] for k in rouge_types}
        for ref, pred in zip(references, predictions, strict=True):
            score = scorer.score_multi(ref, pred) if multi_ref else scorer.score(ref, pred)
            if aggregator is not None:
                aggregator.add_scores(score)
            else:
                for key in rouge_types:
                    per_item[key].append(score[key].fmeasure)
        if aggregator is not None:
            result = aggregator.aggregate()
            return {key: float(result[key].mid.fmeasure) for key in rouge_types}
        return per_item

"""Bits per byte equals an independent Σ NLL / (ln 2 × bytes), for byte and BPE models."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tokattn.evaluation.lm import bits_per_byte, score_documents, token_perplexity

TEXT = "Tokenizers change what a model sees: naïve café, 日本語, हिन्दी."


def _independent_nll(sm, text: str) -> float:
    """Σ -log p(token) over tokenizer(text) (which prepends <s>), one plain forward pass."""
    ids = sm.tokenizer(text)["input_ids"]
    assert ids[0] == sm.tokenizer.bos_token_id
    with torch.no_grad():
        logits = sm.model(input_ids=torch.tensor([ids])).logits[0]
    return float(F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="sum"))


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_bpb_equals_independent_computation(scoring_models, kind):
    sm = scoring_models[kind]
    (score,) = score_documents(sm, [TEXT])
    n_bytes = len(TEXT.encode("utf-8"))
    assert score.n_bytes == n_bytes == score.covered_bytes
    expected = _independent_nll(sm, TEXT) / (math.log(2) * n_bytes)
    assert score.bits_per_byte == pytest.approx(expected, rel=1e-5)
    assert bits_per_byte([score]) == pytest.approx(expected, rel=1e-5)


def test_both_tokenizers_are_scored_per_byte(scoring_models):
    byte, bpe = (score_documents(scoring_models[k], [TEXT])[0] for k in ("byte", "bpe"))
    assert byte.n_bytes == bpe.n_bytes  # same denominator, whatever the tokens
    assert byte.n_tokens == byte.n_bytes  # one token per byte
    assert bpe.n_tokens < byte.n_tokens  # BPE merges: fewer tokens for the same bytes
    for s in (byte, bpe):
        per_token = math.exp(s.nll_nats / s.n_tokens)
        assert token_perplexity([s]) == pytest.approx(per_token)


@pytest.mark.parametrize("stride_fraction", [1.0, 0.5, 0.25])
def test_sliding_window_scores_every_token_once(scoring_models, stride_fraction):
    sm = scoring_models["byte"]
    long_text = (TEXT + " ") * 6  # ~ 5 windows of 96 tokens
    (s,) = score_documents(sm, [long_text], stride_fraction, batch_size=3)
    assert s.n_tokens == len(long_text.encode()) == s.n_bytes
    # Independent: score each token from at most `window` tokens of context, one by one
    # for the tokens of each window (HF "perplexity of fixed-length models" recipe).
    ids = sm.tokenizer(long_text)["input_ids"]
    window = sm.max_context_tokens
    stride = round(stride_fraction * window) if stride_fraction < 1 else window - 1
    nll, done = 0.0, 1
    with torch.no_grad():
        while done < len(ids):
            end = min(len(ids), window if done == 1 else done + stride)
            start = max(0, end - window)
            logits = sm.model(input_ids=torch.tensor([ids[start:end]])).logits[0]
            targets = torch.tensor(ids[done:end])
            nll += float(
                F.cross_entropy(
                    logits[done - start - 1 : end - start - 1], targets, reduction="sum"
                )
            )
            done = end
    assert s.nll_nats == pytest.approx(nll, rel=1e-5)


def test_shorter_stride_means_more_context(scoring_models):
    sm = scoring_models["bpe"]
    text = (TEXT + " ") * 12
    disjoint, overlapping = (score_documents(sm, [text], f)[0] for f in (1.0, 0.25))
    assert disjoint.n_tokens == overlapping.n_tokens
    assert disjoint.nll_nats != pytest.approx(overlapping.nll_nats)

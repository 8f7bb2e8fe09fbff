"""Bits per byte of a causal LM on raw text, with a sliding window over long documents.

bits/byte = Σ token NLL (nats) / (ln 2 × UTF-8 bytes of the text). Every token of a
document is predicted once, from the BOS token (or EOS, the document separator the model
was trained with) onwards; the end-of-document token is not scored, as in
lm-evaluation-harness' rolling log-likelihood. The denominator is the document's own
byte count, never a token count, so models with different tokenizers are compared on the
same quantity. Per-token perplexity is reported beside it, labelled as such: it is not
comparable across tokenizers.

Long documents are scored in windows of the model's context length `L` that advance by
`stride` tokens; each window scores only the tokens the previous one did not, so every
token after the first window sees at least ``L - stride`` tokens of context. The stride
is at most ``L - 1`` (`stride_fraction` 1: windows overlap by one token, as the harness'
rolling windows do); smaller strides cost more and give every token more context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tokattn.evaluation.model_io import ScoringModel

LN2 = math.log(2)


@dataclass
class DocumentScore:
    """Summed NLL of one document's tokens and the counts it is normalised by."""

    nll_nats: float
    n_tokens: int  # scored tokens
    n_bytes: int  # UTF-8 bytes of the document
    covered_bytes: int  # bytes inside some token's span (< n_bytes if the tokenizer drops text)

    @property
    def bits_per_byte(self) -> float:
        """Return this document's bits per byte."""
        return self.nll_nats / (LN2 * self.n_bytes) if self.n_bytes else float("nan")


@dataclass
class _Window:
    doc: int
    ids: list[int]  # model input
    first_target: int  # index in `ids` of the first token to score (>= 1)


def _windows(seq: list[int], doc: int, window: int, stride: int, first: int) -> list[_Window]:
    """Return the windows that score positions `first`..len(seq)-1 of `seq` exactly once."""
    out, done = [], first
    while done < len(seq):
        end = min(len(seq), window if done == first else done + stride)
        end = max(end, done + 1)
        start = max(0, end - window)
        out.append(_Window(doc, seq[start:end], done - start))
        done = end
    return out


def _covered(spans: Sequence[tuple[int, int]]) -> int:
    total, reach = 0, 0
    for s, e in spans:
        s = max(s, reach)
        if e > s:
            total += e - s
            reach = e
    return total


@torch.no_grad()
def score_documents(
    sm: ScoringModel,
    texts: Sequence[str],
    stride_fraction: float = 0.5,
    batch_size: int = 8,
) -> list[DocumentScore]:
    """Return the summed token NLL and byte counts of each text (sliding window)."""
    window = sm.max_context_tokens
    stride = max(1, min(window - 1, round(stride_fraction * window))) if window > 1 else 1
    prefix = sm.bos_id if sm.bos_id is not None else sm.tokenizer.eos_token_id
    scores, windows = [], []
    for k, text in enumerate(texts):
        ids, spans = sm.encode(text)
        n_bytes = len(text.encode("utf-8"))
        if prefix is not None:
            seq = [prefix, *ids]
        else:
            # No token to predict the first one from: it and its bytes are not scored.
            seq, n_bytes = ids, n_bytes - (spans[0][1] if spans else 0)
        scores.append(DocumentScore(0.0, max(0, len(seq) - 1), n_bytes, _covered(spans)))
        windows += _windows(seq, k, window, stride, first=1)
    windows.sort(key=lambda w: -len(w.ids))  # similar lengths share a batch: little padding
    pad = sm.tokenizer.pad_token_id if sm.tokenizer.pad_token_id is not None else 0
    nll = [0.0] * len(texts)
    for b in range(0, len(windows), batch_size):
        batch = windows[b : b + batch_size]
        width = len(batch[0].ids)
        x = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, w in enumerate(batch):
            x[i, : len(w.ids)] = torch.tensor(w.ids)
            mask[i, : len(w.ids)] = 1
        logits = sm.model(input_ids=x.to(sm.device), attention_mask=mask.to(sm.device)).logits
        logp = F.log_softmax(logits.float(), dim=-1)  # (B, T, V)
        for i, w in enumerate(batch):
            targets = torch.tensor(w.ids[w.first_target :], device=sm.device)
            rows = logp[i, w.first_target - 1 : len(w.ids) - 1]  # (n_targets, V)
            nll[w.doc] -= float(rows.gather(1, targets[:, None]).sum(dtype=torch.float64))
    for k, s in enumerate(scores):
        s.nll_nats = nll[k]
    return scores


def bits_per_byte(scores: Sequence[DocumentScore]) -> float:
    """Return Σ NLL / (ln 2 × Σ bytes) over documents (a byte-weighted, not a mean, ratio)."""
    n_bytes = sum(s.n_bytes for s in scores)
    return sum(s.nll_nats for s in scores) / (LN2 * n_bytes) if n_bytes else float("nan")


def token_perplexity(scores: Sequence[DocumentScore]) -> float:
    """Return exp(Σ NLL / Σ tokens): per *token*, so not comparable across tokenizers."""
    n = sum(s.n_tokens for s in scores)
    return math.exp(sum(s.nll_nats for s in scores) / n) if n else float("nan")

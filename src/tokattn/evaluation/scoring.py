"""Log-likelihood of each choice after a context, computing the shared prefix once.

For a context and its choices, each full text ``context + choice`` is tokenized as one
string (so tokens that straddle the boundary are what the model would really see); a
choice's log-likelihood is the sum over the tokens that end after the context's last
byte. The token prefix common to all choices is run once with a KV cache; the remaining
tokens of all choices then run as one batch on copies of that cache. The result equals
scoring each choice in its own forward pass (`shared_prefix=False`), which is kept as
the reference and the benchmark baseline. Models without a KV cache (the byte branch,
`ScoringModel.kv_cache`) always take that full-sequence path.

Items longer than the context window are cut from the left, at one start position for
all choices so that they keep a common prefix.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tokattn.evaluation.model_io import ScoringModel


def _cache_keyword(model: torch.nn.Module) -> str:
    """Return the KV-cache argument and output key: `cache` (transformers 5) or `past_key_values`."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


@dataclass
class _Prepared:
    seqs: list[list[int]]  # per choice: model input ids (window-cut)
    cont_start: list[int]  # per choice: index in seqs[c] of the first choice token
    truncated: bool


def prepare(sm: ScoringModel, context: str, choices: Sequence[str]) -> _Prepared:
    """Return the token sequences of context + each choice and where each choice starts."""
    ctx_bytes = len(context.encode("utf-8"))
    seqs, starts = [], []
    for choice in choices:
        if not choice:
            raise ValueError("empty choice")
        ids, spans = sm.encode(context + choice)
        k = next((i for i, (_, e) in enumerate(spans) if e > ctx_bytes), len(ids))
        if k == len(ids):
            raise ValueError(f"choice {choice!r} produced no tokens after the context")
        seq = sm.with_bos(ids)
        seqs.append(seq)
        starts.append(k + len(seq) - len(ids))
    window = sm.max_context_tokens
    cut = max(0, max(len(s) for s in seqs) - window)
    cut = min(cut, min(starts) - 1)  # keep >= 1 token before every choice
    if max(len(s) for s in seqs) - cut > window:
        raise ValueError("a choice is longer than the model's context window")
    if cut < 0:
        raise ValueError("a choice starts at the first token: nothing to predict it from")
    return _Prepared([s[cut:] for s in seqs], [c - cut for c in starts], cut > 0)


def _choice_logprob(logp: torch.Tensor, seq: Sequence[int], start: int, offset: int) -> float:
    """Sum log p(seq[j]) for j >= start, where logp row r predicts position r + offset + 1."""
    targets = torch.tensor(seq[start:], device=logp.device)
    rows = logp[start - 1 - offset : len(seq) - 1 - offset]
    return float(rows.gather(1, targets[:, None]).sum(dtype=torch.float64))


@torch.no_grad()
def choice_logliks_separate(sm: ScoringModel, context: str, choices: Sequence[str]) -> list[float]:
    """Return each choice's log-likelihood, one full forward pass per choice (reference)."""
    prep = prepare(sm, context, choices)
    out = []
    for seq, start in zip(prep.seqs, prep.cont_start, strict=True):
        x = torch.tensor([seq], device=sm.device)
        logp = F.log_softmax(sm.model(input_ids=x).logits[0].float(), dim=-1)  # (T, V)
        out.append(_choice_logprob(logp, seq, start, 0))
    return out


@torch.no_grad()
def choice_logliks(sm: ScoringModel, context: str, choices: Sequence[str]) -> list[float]:
    """Return each choice's log-likelihood, running the shared token prefix once."""
    if not sm.kv_cache:
        return choice_logliks_separate(sm, context, choices)
    prep = prepare(sm, context, choices)
    seqs, starts = prep.seqs, prep.cont_start
    p = 0
    limit = min(starts)  # the prefix ends before the first choice token of every choice
    while p < limit and all(s[p] == seqs[0][p] for s in seqs):
        p += 1
    if p == 0:
        return choice_logliks_separate(sm, context, choices)
    out = sm.model(input_ids=torch.tensor([seqs[0][:p]], device=sm.device), use_cache=True)
    kw = _cache_keyword(sm.model)
    cache = out[kw]
    last = F.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts position p
    rests = [s[p:] for s in seqs]
    n, width = len(seqs), max(len(r) for r in rests)
    pad = sm.tokenizer.pad_token_id if sm.tokenizer.pad_token_id is not None else 0
    x = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.ones((n, p + width), dtype=torch.long)
    for i, r in enumerate(rests):
        x[i, : len(r)] = torch.tensor(r)
        mask[i, p + len(r) :] = 0  # right padding: real tokens never attend to it anyway
    cache.batch_repeat_interleave(n)
    logits = sm.model(
        input_ids=x.to(sm.device), attention_mask=mask.to(sm.device), **{kw: cache}
    ).logits
    logp = F.log_softmax(logits.float(), dim=-1)  # (n, width, V); row r predicts p + r + 1
    result = []
    for i, (seq, start) in enumerate(zip(seqs, starts, strict=True)):
        total = 0.0
        if start == p:  # the first choice token is predicted by the prefix's last position
            total += float(last[seq[p]])
            start += 1
        if start < len(seq):
            total += _choice_logprob(logp[i], seq, start, p)
        result.append(total)
    return result


def choice_bytes(choices: Sequence[str]) -> list[int]:
    """Return the UTF-8 length of each choice (the length normalisation of acc_norm)."""
    return [len(c.encode("utf-8")) for c in choices]

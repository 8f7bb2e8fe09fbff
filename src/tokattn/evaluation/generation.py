"""Text generation with a budget in UTF-8 bytes (not tokens) and a stop string.

A byte budget gives every tokenizer the same room: a byte-level model needs ~4× the
tokens of a BPE model to write the same summary. Decoding stops per sequence when the
new text reaches `max_new_bytes` or contains `stop`; the text is then cut there.

A model without a KV cache (the byte branch) recomputes the full sequence at every step;
it generates one prompt at a time, so no row carries left padding (its byte frame and
positions are those of the prompt alone, as in training).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from tokattn.evaluation.model_io import ScoringModel


class _ByteBudget(StoppingCriteria):
    """Stop a row once its new text has `max_new_bytes` bytes or contains `stop`."""

    def __init__(self, tokenizer, prompt_len: int, max_new_bytes: int, stop: str | None):
        self.tokenizer, self.prompt_len = tokenizer, prompt_len
        self.max_new_bytes, self.stop = max_new_bytes, stop

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(
            input_ids[:, self.prompt_len :], skip_special_tokens=True
        )
        done = [
            len(t.encode("utf-8")) >= self.max_new_bytes or (bool(self.stop) and self.stop in t)
            for t in texts
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _cut(text: str, max_new_bytes: int, stop: str | None) -> str:
    if stop and stop in text:
        text = text[: text.index(stop)]
    return text.encode("utf-8")[:max_new_bytes].decode("utf-8", errors="ignore")


@torch.no_grad()
def generate(
    sm: ScoringModel,
    prompts: Sequence[str],
    max_new_bytes: int,
    settings: Mapping | None = None,
    stop: str | None = "\n",
    batch_size: int = 8,
    seed: int = 0,
) -> list[str]:
    """Return the continuation of each prompt, at most `max_new_bytes` bytes, cut at `stop`.

    `settings`: num_beams, do_sample, temperature, top_p (greedy by default). Prompts are
    cut from the left so that prompt + new tokens fit the context window.
    """
    settings = dict(settings or {})
    # Every token but a special one decodes to >= 1 byte, so this many tokens always suffice.
    max_new_tokens = max(1, min(max_new_bytes + 1, sm.max_context_tokens // 2))
    room = sm.max_context_tokens - max_new_tokens
    pad = sm.tokenizer.pad_token_id if sm.tokenizer.pad_token_id is not None else 0
    kwargs = {"num_beams": int(settings.get("num_beams", 1))}
    if settings.get("do_sample"):
        kwargs.update(
            do_sample=True,
            temperature=float(settings.get("temperature", 1.0)),
            top_p=float(settings.get("top_p", 1.0)),
        )
    else:
        kwargs["do_sample"] = False
    if not sm.kv_cache:
        kwargs["use_cache"] = False
        batch_size = 1
    out: list[str] = []
    for b in range(0, len(prompts), batch_size):
        seqs = [sm.with_bos(sm.encode_ids(p))[-room:] for p in prompts[b : b + batch_size]]
        width = max(len(s) for s in seqs)
        # Left padding: every row's next token is generated at the same column.
        x = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
        torch.manual_seed(seed + b)
        gen = sm.model.generate(
            input_ids=x.to(sm.device),
            attention_mask=mask.to(sm.device),
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            eos_token_id=sm.tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList(
                [_ByteBudget(sm.tokenizer, width, max_new_bytes, stop)]
            ),
            **kwargs,
        )
        texts = sm.tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
        out += [_cut(t, max_new_bytes, stop) for t in texts]
    return out

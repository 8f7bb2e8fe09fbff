"""A byte-branch model (no KV cache) through the scorers: full-sequence paths, same numbers.

The independent computation builds the byte frame from the text's own UTF-8 bytes and
the tokens' byte spans (not from the model's token → bytes table) and runs one forward
pass per sequence.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.tiny_models import save_tiny_byte_branch_model, train_real_bpe_tokenizer
from tokattn.evaluation.generation import generate
from tokattn.evaluation.lm import score_documents
from tokattn.evaluation.model_io import load_scoring_model
from tokattn.evaluation.scoring import choice_logliks, prepare
from tokattn.evaluation.tasks.inference import addition_items, ordering_items

TEXT = "Tokenizers change what a model sees: naïve café, 日本語, हिन्दी."


@pytest.fixture(scope="module")
def bb(tmp_path_factory):
    root = tmp_path_factory.mktemp("bb")
    tokenizer_dir = train_real_bpe_tokenizer(root / "tokenizer")
    folder = save_tiny_byte_branch_model(root / "bb", tokenizer_dir, context=256)
    return load_scoring_model(folder, device="cpu")


@torch.no_grad()
def _independent_logits(sm, text: str, bytes_off: bool = False) -> tuple[list[int], torch.Tensor]:
    """Return (<s> + token ids of text, logits) with the byte frame built from the text."""
    ids, spans = sm.encode(text)
    # The metaspace pre-tokenizer prepends one space: the frame is BOS byte + b" " + text.
    frame = [256, *b" ", *text.encode("utf-8")]
    if bytes_off:
        frame = [256] + [257] * (len(frame) - 1)
    ends = [1] + [2 + end for _, end in spans]
    seq = sm.with_bos(ids)
    logits = sm.model(
        input_ids=torch.tensor([seq]),
        byte_ids=torch.tensor([frame]),
        token_byte_ends=torch.tensor([ends]),
    ).logits[0]
    return seq, logits


def test_the_model_takes_no_kv_cache_and_reads_the_bytes(bb):
    assert type(bb.model).__name__ == "ByteBranchForCausalLM" and not bb.kv_cache
    seq, with_bytes = _independent_logits(bb, TEXT)
    _, without = _independent_logits(bb, TEXT, bytes_off=True)
    assert (with_bytes - without).abs().max() > 1e-2  # the bytes change the predictions
    with torch.no_grad():  # the table-derived frame is the text's own bytes
        table = bb.model(input_ids=torch.tensor([seq])).logits[0]
    torch.testing.assert_close(table, with_bytes, atol=1e-5, rtol=1e-5)


def test_choice_logliks_equal_independent_full_sequences(bb):
    items = ordering_items("en", 2, "eval", 0) + addition_items("zh", 2, "eval", 0)
    for it in items:
        ours = choice_logliks(bb, it.context, it.choices)
        prep = prepare(bb, it.context, it.choices)
        assert not prep.truncated
        expected = []
        for choice, start in zip(it.choices, prep.cont_start, strict=True):
            seq, logits = _independent_logits(bb, it.context + choice)
            logp = F.log_softmax(logits.float(), dim=-1)
            expected.append(sum(float(logp[j - 1, seq[j]]) for j in range(start, len(seq))))
        assert ours == pytest.approx(expected, abs=1e-4)


def test_bits_per_byte_equals_independent_computation(bb):
    (score,) = score_documents(bb, [TEXT, TEXT[:20]], batch_size=2)[:1]
    seq, logits = _independent_logits(bb, TEXT)
    nll = float(F.cross_entropy(logits[:-1], torch.tensor(seq[1:]), reduction="sum"))
    n_bytes = len(TEXT.encode("utf-8"))
    assert score.bits_per_byte == pytest.approx(nll / (math.log(2) * n_bytes), rel=1e-5)


def test_greedy_generation_equals_a_full_recompute_loop(bb):
    prompts = ["The quick brown fox", "Der schnelle braune Fuchs springt über"]
    max_new_bytes = 16
    ours = generate(bb, prompts, max_new_bytes, stop=None, batch_size=8)
    for prompt, text in zip(prompts, ours, strict=True):
        seq = bb.with_bos(bb.encode_ids(prompt))
        new: list[int] = []
        with torch.no_grad():
            for _ in range(max_new_bytes + 1):
                logits = bb.model(input_ids=torch.tensor([seq + new])).logits[0, -1]
                new.append(int(logits.argmax()))
                decoded = bb.tokenizer.decode(new, skip_special_tokens=True)
                if new[-1] == bb.tokenizer.eos_token_id or len(decoded.encode()) >= max_new_bytes:
                    break
        expected = bb.tokenizer.decode(new, skip_special_tokens=True)
        expected = expected.encode()[:max_new_bytes].decode("utf-8", errors="ignore")
        assert text == expected
        assert len(text.encode()) <= max_new_bytes

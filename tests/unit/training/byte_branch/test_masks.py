"""Byte frames and masks: token ends match byte spans; attention stays inside its band."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.unit.training.byte_branch.conftest import MULTILINGUAL, random_table, small_llama
from tokattn.common.byte_spans import token_byte_spans
from tokattn.training.byte_branch import (
    BOS_BYTE,
    PAD_BYTE,
    ByteBranchForCausalLM,
    sliding_window_attention,
    token_byte_table,
)
from tokattn.training.byte_branch.modeling_byte_branch import (
    cross_attention_banded,
    cross_attention_dense,
)

TEXTS = [MULTILINGUAL, "नमस्ते दुनिया 🙂", "x"]


def _model(tokenizer_folder, tokenizer, **options):
    table, lengths = token_byte_table(tokenizer_folder)
    llama = small_llama(vocab_size=len(tokenizer), attn="eager")
    options = {"byte_d_model": 32, "gate_init": 1.0, **options}
    model = ByteBranchForCausalLM.from_llama(llama, **options).eval()
    model.set_token_bytes(table, lengths)
    return model


@pytest.mark.parametrize("kind", ["bytelevel_bpe", "bpe"])
def test_token_byte_ends_match_byte_spans(tokenizers_by_kind, kind):
    tokenizer, folder = tokenizers_by_kind[kind]
    model = _model(folder, tokenizer)
    batch = tokenizer(TEXTS, padding=True, padding_side="right", return_tensors="pt")
    byte_ids, ends = model.byte_inputs(batch["input_ids"])
    saw_fallback = False
    for row, text in enumerate(TEXTS):
        data = text.encode()
        n_real = int(batch["attention_mask"][row].sum())
        ids = batch["input_ids"][row, :n_real].tolist()
        # Independent: spans from the tokenizer's character offsets, placed in the text.
        spans = token_byte_spans(tokenizer, text, add_special_tokens=True)
        assert len(spans) == n_real
        # Metaspace (bpe) prepends one space the text lacks: the frame starts with it.
        shift = 1 if kind == "bpe" and not text.startswith(" ") else 0
        assert byte_ids[row, 0] == BOS_BYTE
        expected_ends = [1 + (shift if t > 0 else 0) + end for t, (_, end) in enumerate(spans)]
        assert ends[row, :n_real].tolist() == expected_ends
        n_bytes = 1 + shift + len(data)
        got = bytes(byte_ids[row, 1 + shift : n_bytes].tolist())
        assert got == data
        assert (byte_ids[row, n_bytes:] == PAD_BYTE).all()
        # Padding tokens add no bytes: their end repeats the last real token's.
        assert (ends[row, n_real:] == n_bytes).all()
        # A byte-fallback piece <0xNN> ends with exactly that byte.
        for t, tok in enumerate(tokenizer.convert_ids_to_tokens(ids)):
            if tok.startswith("<0x") and tok.endswith(">") and len(tok) == 6:
                saw_fallback = True
                assert int(byte_ids[row, ends[row, t] - 1]) == int(tok[3:5], 16)
                assert ends[row, t] - ends[row, t - 1] == 1
    if kind == "bpe":
        assert saw_fallback, "the probe text should need byte-fallback pieces"


@pytest.mark.parametrize("kind", ["bytelevel_bpe", "bpe"])
@pytest.mark.parametrize("window", [None, 1, 5])
def test_cross_attention_stays_in_band(tokenizers_by_kind, kind, window):
    tokenizer, folder = tokenizers_by_kind[kind]
    model = _model(folder, tokenizer, cross_layers="all", cross_window_bytes=window)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    _, ends = model.byte_inputs(batch["input_ids"])
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    n_bytes = out.cross_attentions[0].shape[-1]
    j = torch.arange(n_bytes)
    allowed = j < ends[..., None]  # (B, T, N)
    if window is not None:
        allowed &= (j >= ends[..., None] - window) | (j == 0)
    assert len(out.cross_attentions) == model.config.num_hidden_layers
    assert len(out.attentions) == model.config.num_hidden_layers
    for weights in out.cross_attentions:
        assert weights.shape == (len(TEXTS), model.config.cross_n_heads, ends.shape[1], n_bytes)
        assert (weights.masked_select(~allowed[:, None]) == 0).all()
        assert (weights.masked_select(allowed[:, None]) > 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


def _dense_reference(q, k, v, allowed):
    scores = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


@pytest.mark.parametrize("window", [None, 1, 3, 8, 36, 37, 64])
def test_sliding_window_attention_matches_dense_band(window):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 37, 8, generator=g) for _ in range(3))
    i = torch.arange(37)
    diff = i[:, None] - i[None, :]
    allowed = (diff >= 0) & (diff < (window or 10**9))
    got = sliding_window_attention(q, k, v, window)
    torch.testing.assert_close(got, _dense_reference(q, k, v, allowed), atol=1e-5, rtol=1e-5)


def test_windowed_cross_attention_matches_dense_reference():
    llama = small_llama(n_layers=2)
    table, lengths = random_table()
    full = ByteBranchForCausalLM.from_llama(llama, byte_d_model=32, gate_init=1.0).eval()
    full.set_token_bytes(table, lengths)
    ids = torch.randint(4, 300, (2, 24), generator=torch.Generator().manual_seed(1))
    byte_ids, ends = full.byte_inputs(ids)
    cross = full.cross_attn[0]
    h = torch.randn(2, 24, 64)
    with torch.no_grad():
        states = full.byte_branch(byte_ids)
        ref_full, w_full = cross(h, states, ends, output_attentions=True)
        for window in (1, 4, byte_ids.shape[1]):
            cross.window = window
            got, w = cross(h, states, ends, output_attentions=True)
            j = torch.arange(byte_ids.shape[1])
            allowed = (j < ends[..., None]) & ((j >= ends[..., None] - window) | (j == 0))
            scores = (w_full.clamp_min(1e-30).log()).masked_fill(~allowed[:, None], -torch.inf)
            torch.testing.assert_close(w, scores.softmax(-1), atol=1e-6, rtol=1e-5)
        # A window covering every byte is the full (dense) path.
        torch.testing.assert_close(got, ref_full, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(w, w_full, atol=1e-6, rtol=1e-5)


def test_byte_inputs_match_python_reference():
    table, lengths = random_table()
    model = ByteBranchForCausalLM.from_llama(small_llama(n_layers=1), byte_d_model=32)
    model.set_token_bytes(table, lengths)
    ids = torch.randint(0, 300, (3, 17), generator=torch.Generator().manual_seed(2))
    byte_ids, ends = model.byte_inputs(ids)
    rows = []
    for r in range(3):
        frame, row_ends = [BOS_BYTE], []
        for i in ids[r].tolist():
            frame += table[i, : lengths[i]].tolist()
            row_ends.append(len(frame))
        rows.append(frame)
        assert ends[r].tolist() == row_ends
    width = max(map(len, rows))
    assert byte_ids.shape == (3, width)
    for r, frame in enumerate(rows):
        assert byte_ids[r].tolist() == frame + [PAD_BYTE] * (width - len(frame))
    with pytest.raises(ValueError, match="token byte table"):
        model.set_token_bytes(np.zeros((5, 3)), np.zeros(5))


def test_sdpa_and_eager_agree():
    table, lengths = random_table()
    ids = torch.randint(4, 300, (2, 20), generator=torch.Generator().manual_seed(3))
    logits = []
    for attn in ("eager", "sdpa"):
        torch.manual_seed(0)  # the byte branch and cross-attention start from the global RNG
        model = ByteBranchForCausalLM.from_llama(
            small_llama(attn=attn), byte_d_model=32, gate_init=1.0, cross_window_bytes=6
        ).eval()
        model.set_token_bytes(table, lengths)
        with torch.no_grad():
            logits.append(model(ids).logits)
    torch.testing.assert_close(logits[0], logits[1], atol=1e-4, rtol=1e-4)
    assert F.mse_loss(logits[0], torch.zeros_like(logits[0])) > 0


@pytest.mark.parametrize("window", [1, 3, 8, 40, 200])
def test_banded_and_dense_cross_attention_agree(window):
    g = torch.Generator().manual_seed(4)
    b, t, n, h, hd = 2, 30, 101, 3, 8
    q = torch.randn(b, t, h, hd, generator=g)
    kv = torch.randn(b, n, 2, h, hd, generator=g)
    ends = torch.sort(torch.randint(1, n + 1, (b, t), generator=g), dim=1).values
    j = torch.arange(n)
    allowed = (j < ends[..., None]) & ((j >= ends[..., None] - window) | (j == 0))
    k, v = kv.permute(2, 0, 3, 1, 4)
    dense, w_dense = cross_attention_dense(q.transpose(1, 2), k, v, allowed, True)
    sdpa, _ = cross_attention_dense(q.transpose(1, 2), k, v, allowed, False)
    banded, w_banded = cross_attention_banded(q, kv, ends, window, True)
    reference = _dense_reference(q.transpose(1, 2), k, v, allowed[:, None])
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sdpa, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(banded.transpose(1, 2), reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w_banded, w_dense, atol=1e-6, rtol=1e-5)
    assert (w_banded.masked_select(~allowed[:, None]) == 0).all()

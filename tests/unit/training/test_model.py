"""Model arms: resolved sizes, parameter counts, matching, FLOPs, attention kernels."""

from __future__ import annotations

import pytest
import torch

from tokattn.training.model import (
    build_model,
    d_ff_matching,
    flops_per_token,
    llama_config,
    non_embedding_params_for,
    parameter_counts,
    resolve_arm,
)

SPECIALS = {"bos": 0, "eos": 1, "pad": 2, "unk": 3}


def _arm(**kw):
    arm = {"name": "a", "tokenizer": "t", "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 96}
    arm.update(kw)
    return arm


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("n_kv", [None, 2])
def test_parameter_counts_match_the_formula(tied, n_kv):
    spec = resolve_arm(
        _arm(context_tokens=32, tied_embeddings=tied, n_kv_heads=n_kv), {}, 300, 1.0, SPECIALS
    )
    counts = parameter_counts(build_model(spec, seed=0))
    assert counts["non_embedding"] == non_embedding_params_for(64, 2, 4, n_kv or 4, 96)
    assert counts["embedding"] == 300 * 64 * (1 if tied else 2)
    assert counts["total"] == counts["embedding"] + counts["non_embedding"]


def test_context_bytes_becomes_tokens_by_mean_bytes_per_token():
    spec = resolve_arm(_arm(context_bytes=1000), {}, 300, 2.5, SPECIALS)
    assert spec.context_tokens == 400
    assert llama_config(spec).max_position_embeddings == 400


def test_match_non_embedding_params_to_another_arm():
    ref = _arm(name="ref", d_ff=256, context_tokens=32)
    deep = _arm(
        name="deep",
        d_model=48,
        n_layers=5,
        n_heads=4,
        context_tokens=32,
        match_non_embedding_params="ref",
    )
    spec = resolve_arm(deep, {"ref": ref, "deep": deep}, 300, 1.0, SPECIALS)
    target = non_embedding_params_for(64, 2, 4, 4, 256)
    got = non_embedding_params_for(48, 5, 4, 4, spec.d_ff)
    assert spec.d_ff % 8 == 0
    # Nearest multiple of 8: off by at most half a step of d_ff.
    step = 3 * 48 * 5 * 8
    assert abs(got - target) <= step / 2
    assert d_ff_matching(target, 48, 5, 4, 4, multiple=8) == spec.d_ff


def test_same_seed_same_init_and_global_rng_untouched():
    spec = resolve_arm(_arm(context_tokens=16), {}, 100, 1.0, SPECIALS)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_model(spec, seed=5), build_model(spec, seed=5)
    assert torch.equal(torch.rand(1), before)
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), name
    c = build_model(spec, seed=6)
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


def test_eager_attention_gives_the_sdpa_logits():
    spec = resolve_arm(_arm(context_tokens=16), {}, 100, 1.0, SPECIALS)
    sdpa = build_model(spec, seed=1, attn_implementation="sdpa").eval()
    eager = build_model(spec, seed=1, attn_implementation="eager").eval()
    x = torch.randint(0, 100, (2, 16))
    with torch.no_grad():
        out = eager(input_ids=x, output_attentions=True)
        torch.testing.assert_close(sdpa(input_ids=x).logits, out.logits, atol=1e-5, rtol=1e-5)
    assert out.attentions[0].shape == (2, 4, 16, 16)  # [batch, head, query_pos, key_pos]


def test_flops_per_token_counts_head_and_attention():
    spec = resolve_arm(_arm(context_tokens=128), {}, 1000, 1.0, SPECIALS)
    n = non_embedding_params_for(64, 2, 4, 4, 96)
    assert flops_per_token(spec, n) == 6 * (n + 64 * 1000) + 12 * 2 * 64 * 128

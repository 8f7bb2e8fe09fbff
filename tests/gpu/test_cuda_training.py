"""CUDA-only checks of the training fast paths (run by benchmarks/gpu_check.sh on a GPU).

Every test skips without CUDA. What they check: a bf16-autocast, torch.compile'd training
step with fused AdamW learns (the loss falls on a repeated batch, nothing non-finite);
the SDPA kernels the training uses give the eager attention's logits (the attention dump
runs eager, so the maps it stores belong to the model that was trained), on fresh weights
and after saving the trained model and reloading it eager, as the dump does.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tokattn.training.model import ArmSpec, build_model
from tokattn.training.optim import make_optimizer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

SPEC = ArmSpec(
    name="gpu_check",
    tokenizer="synthetic",
    vocab_size=512,
    d_model=128,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,  # grouped-query attention takes its own SDPA path
    d_ff=352,
    context_tokens=128,
)


@pytest.fixture
def no_tf32():
    """Full fp32 matmuls, so fp32 comparisons test the kernels, not TF32 rounding."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _batch(device, batch=8):
    g = torch.Generator().manual_seed(0)
    return torch.randint(4, SPEC.vocab_size, (batch, SPEC.context_tokens + 1), generator=g).to(
        device
    )


def _train(model, device, steps: int, compile_model: bool) -> list[float]:
    optimizer = make_optimizer(model, 3e-3, 0.1, (0.9, 0.95), device)
    assert optimizer.defaults.get("fused") is True  # fused AdamW on CUDA
    fwd = torch.compile(model) if compile_model else model
    data = _batch(device)
    x, y = data[:, :-1], data[:, 1:]  # (B, T)
    losses = []
    for _ in range(steps):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            logits = fwd(input_ids=x, use_cache=False).logits  # (B, T, V)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
    return losses


def test_bf16_compiled_step_with_fused_adamw_learns():
    device = torch.device("cuda")
    model = build_model(SPEC, seed=0, attn_implementation="sdpa").to(device)
    losses = _train(model, device, steps=40, compile_model=True)
    assert all(torch.isfinite(torch.tensor(losses)))
    # A repeated batch is memorised: from ln(512) ≈ 6.2 nats to well below.
    assert losses[-1] < losses[0] - 2.0, losses[::8]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_sdpa_matches_eager_on_fresh_weights(no_tf32):
    device = torch.device("cuda")
    sdpa = build_model(SPEC, seed=1, attn_implementation="sdpa").to(device).eval()
    eager = build_model(SPEC, seed=1, attn_implementation="eager").to(device).eval()
    x = _batch(device, batch=2)[:, :-1]
    with torch.no_grad():
        want = eager(input_ids=x).logits
        torch.testing.assert_close(sdpa(input_ids=x).logits, want, atol=1e-4, rtol=1e-4)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            got = sdpa(input_ids=x).logits.float()
            ref = eager(input_ids=x).logits.float()
        # bf16 keeps ~3 significant digits: compare at that precision.
        torch.testing.assert_close(got, ref, atol=5e-2, rtol=5e-2)


def test_trained_sdpa_model_reloads_eager_with_the_same_logits(tmp_path, no_tf32):
    from transformers import AutoModelForCausalLM

    device = torch.device("cuda")
    model = build_model(SPEC, seed=2, attn_implementation="sdpa").to(device)
    _train(model, device, steps=20, compile_model=False)
    model.eval().save_pretrained(tmp_path / "m")
    eager = AutoModelForCausalLM.from_pretrained(tmp_path / "m", attn_implementation="eager")
    eager = eager.to(device).eval()
    x = _batch(device, batch=2)[:, :-1]
    with torch.no_grad():
        out = eager(input_ids=x, output_attentions=True)
        torch.testing.assert_close(model(input_ids=x).logits, out.logits, atol=1e-4, rtol=1e-4)
    rows = out.attentions[0].sum(-1)  # [batch, head, query] — every row a distribution
    torch.testing.assert_close(rows, torch.ones_like(rows), atol=1e-5, rtol=0)

"""The byte-branch model: plain model at gate 0, no leakage from later bytes, export, generate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.unit.training.byte_branch.conftest import random_table, small_llama
from tokattn.training.byte_branch import ByteBranchConfig, ByteBranchForCausalLM
from tokattn.training.model import parameter_counts


def _branch(llama, seed=0, **options):
    torch.manual_seed(seed)
    options = {"byte_d_model": 32, "byte_n_layers": 2, "byte_window": 4, **options}
    model = ByteBranchForCausalLM.from_llama(llama, **options).eval()
    model.set_token_bytes(*random_table(llama.config.vocab_size))
    return model


def _ids(shape=(2, 24), seed=0):
    ids = torch.randint(4, 300, shape, generator=torch.Generator().manual_seed(seed))
    ids[:, 0] = 0  # <s>: no bytes
    return ids


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("cross_layers", [{"first_k": 1}, "all"])
def test_gate_zero_is_the_plain_model(attn, tied, cross_layers):
    llama = small_llama(attn=attn, tied=tied)
    model = _branch(llama, cross_layers=cross_layers, cross_window_bytes=8)
    assert model.config.gate_init == 0.0
    assert all(float(c.gate.detach()) == 0.0 for c in model.cross_attn)
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied
    ids = _ids()
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # left padding
    with torch.no_grad():
        plain = llama(ids, attention_mask=mask, labels=ids)
        ours = model(ids, attention_mask=mask, labels=ids)
    assert torch.equal(plain.logits, ours.logits)
    assert torch.equal(plain.loss, ours.loss)
    # The branch adds parameters but leaves the main model's counts alone.
    extra = parameter_counts(model)["total"] - parameter_counts(llama)["total"]
    assert extra == sum(
        p.numel() for n, p in model.named_parameters() if n.startswith(("byte", "cross"))
    )


def test_gate_zero_still_trains_the_gate():
    model = _branch(small_llama())
    model.train()
    ids = _ids()
    model(ids, labels=ids).loss.backward()
    assert all(float(c.gate.grad.abs()) > 0 for c in model.cross_attn)


@pytest.mark.parametrize("cross_window_bytes", [None, 3])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_later_bytes_never_reach_earlier_logits(attn, cross_window_bytes):
    model = _branch(
        small_llama(attn=attn),
        gate_init=1.0,
        cross_layers="all",
        cross_window_bytes=cross_window_bytes,
    )
    ids = _ids()
    byte_ids, ends = model.byte_inputs(ids)
    with torch.no_grad():
        base = model(ids, byte_ids=byte_ids, token_byte_ends=ends).logits
    g = torch.Generator().manual_seed(5)
    for i in (0, 3, 10, 22):
        e = int(ends[0, i])
        # Every byte after the end of token i (row 0) replaced: logits up to i unchanged.
        after = byte_ids.clone()
        after[0, e:] = (after[0, e:] + torch.randint(1, 256, after[0, e:].shape, generator=g)) % 256
        with torch.no_grad():
            changed = model(ids, byte_ids=after, token_byte_ends=ends).logits
        assert torch.equal(changed[0, : i + 1], base[0, : i + 1]), i
        assert torch.equal(changed[1], base[1])
        if i + 1 < ids.shape[1]:
            assert not torch.equal(changed[0, i + 1], base[0, i + 1])
        if i == 0:
            continue  # <s> has no bytes of its own
        # The last byte inside token i changed: logits of token i change.
        inside = byte_ids.clone()
        inside[0, e - 1] = (inside[0, e - 1] + 1) % 256
        with torch.no_grad():
            changed = model(ids, byte_ids=inside, token_byte_ends=ends).logits
        assert torch.equal(changed[0, :i], base[0, :i])
        assert not torch.equal(changed[0, i], base[0, i])


def test_byte_branch_receptive_field():
    """With window w and L byte layers, byte j depends only on bytes j − L·(w−1) .. j."""
    model = _branch(small_llama(), byte_window=4, byte_n_layers=2)
    byte_ids, _ = model.byte_inputs(_ids((1, 24)))
    reach = 2 * (4 - 1)
    p = 20
    changed = byte_ids.clone()
    changed[0, p] = (changed[0, p] + 7) % 256
    with torch.no_grad():
        base, new = model.byte_branch(byte_ids), model.byte_branch(changed)
    assert torch.equal(base[0, :p], new[0, :p])
    assert torch.equal(base[0, p + reach + 1 :], new[0, p + reach + 1 :])
    assert not torch.equal(base[0, p + reach], new[0, p + reach])


def test_output_attentions_needs_eager():
    model = _branch(small_llama(attn="sdpa"))
    with pytest.raises(ValueError, match="eager"), torch.no_grad():
        model(_ids(), output_attentions=True)


def test_export_reload_through_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    # sdpa: what from_pretrained picks by default, so logits can be compared bit for bit.
    model = _branch(
        small_llama(tied=False, attn="sdpa"),
        gate_init=0.5,
        cross_layers=[0, 2],
        cross_window_bytes=5,
    )
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "tokattn_byte_branch"
    assert config["cross_layers"] == [0, 2] and config["cross_window_bytes"] == 5
    assert config["auto_map"] == {
        "AutoConfig": "configuration_byte_branch.ByteBranchConfig",
        "AutoModelForCausalLM": "modeling_byte_branch.ByteBranchForCausalLM",
    }
    for name in ("configuration_byte_branch.py", "modeling_byte_branch.py"):
        source = (tmp_path / name).read_text()
        assert not re.search(r"^\s*(from|import)\s+tokattn", source, re.MULTILINE), name
    assert isinstance(AutoConfig.from_pretrained(tmp_path), ByteBranchConfig)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is ByteBranchForCausalLM
    assert torch.equal(reloaded.token_bytes, model.token_bytes)
    ids = _ids()
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, model(ids).logits)
    torch.save(model(ids).logits.detach(), tmp_path / "expected.pt")
    torch.save(ids, tmp_path / "ids.pt")

    # Without tokattn: the folder's own code through trust_remote_code.
    script = textwrap.dedent(
        f"""
        import sys, torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        assert not any(m == "tokattn" or m.startswith("tokattn.") for m in sys.modules), "tokattn"
        ids = torch.load({str(tmp_path / "ids.pt")!r})
        with torch.no_grad():
            logits = model.eval()(ids).logits
        assert torch.equal(logits, torch.load({str(tmp_path / "expected.pt")!r}))
        print("OK", type(model).__module__)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("OK") and "tokattn" not in run.stdout.split()[1]


def test_generate_equals_greedy_loop():
    model = _branch(small_llama(), gate_init=1.0, cross_window_bytes=6)
    prompt = _ids((2, 6))
    out = model.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=True)
    x = prompt
    with torch.no_grad():
        for _ in range(8):
            x = torch.cat([x, model(x).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, x)
    with torch.no_grad():
        assert model(prompt, use_cache=True).cache is None

"""The training loop: learning, determinism, resume, export, byte budgets."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tokattn.training.checkpoint import load_checkpoint
from tokattn.training.model import ArmSpec, build_model
from tokattn.training.optim import grad_accum_steps, lr_at
from tokattn.training.packing import PackedSequences
from tokattn.training.tokenized import TokenizedSplit

from .conftest import tiny_arm, tiny_training

BASE_BUDGET = 16000  # about 32 steps of 4 × 128-byte sequences


@pytest.fixture(scope="module")
def baseline(run_training):
    """One uninterrupted run that the other tests compare against."""
    summary, model_dir = run_training(
        tiny_arm("bpe"), tiny_training(budget_bytes=BASE_BUDGET), seed=0, tag="baseline"
    )
    return summary, model_dir


def _weights(model_dir):
    return load_file(model_dir / "model.safetensors")


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _log(model_dir):
    with open(model_dir / "train_log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_loss_falls_and_everything_is_recorded(baseline):
    summary, model_dir = baseline
    rows = _log(model_dir)
    assert list(rows[0]) == [
        "step", "tokens", "bytes", "loss", "val_loss", "val_bpb", "lr", "tokens_per_s", "mfu",
    ]  # fmt: skip
    assert summary["steps"] >= 24
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert losses[-1] < losses[0] - 0.5
    val = [float(r["val_bpb"]) for r in rows if r["val_bpb"]]
    assert len(val) >= 3 and val[-1] < val[0]
    assert rows[-1]["step"] == str(summary["steps"])
    assert int(rows[-1]["bytes"]) == summary["bytes_seen"]
    assert summary["final_val_bpb"] == pytest.approx(val[-1])
    assert rows[-1]["mfu"] == ""  # no known peak on CPU
    assert summary["flops"] == summary["flops_per_token"] * summary["tokens_seen"]
    params = summary["params"]
    assert params["total"] == params["embedding"] + params["non_embedding"] > 0
    assert summary["dtype"] == "float32" and summary["device"] == "cpu"


def test_same_seed_gives_identical_weights_other_seed_does_not(baseline, run_training):
    again, again_dir = run_training(
        tiny_arm("bpe"), tiny_training(budget_bytes=BASE_BUDGET), seed=0, tag="again"
    )
    _assert_same_weights(_weights(baseline[1]), _weights(again_dir))
    assert again["final_val_loss"] == baseline[0]["final_val_loss"]
    _, other_dir = run_training(
        tiny_arm("bpe"), tiny_training(budget_bytes=BASE_BUDGET), seed=1, tag="seed1"
    )
    key = "model.embed_tokens.weight"
    assert not torch.equal(_weights(other_dir)[key], _weights(baseline[1])[key])


def test_killed_then_resumed_run_matches_uninterrupted(baseline, run_training, tmp_path):
    arm, training = tiny_arm("bpe"), tiny_training(budget_bytes=BASE_BUDGET)
    ckpt = tmp_path / "ckpt"
    # Crash after step 13: the last checkpoint (interval 5) holds step 10.
    crashed, model_dir = run_training(
        arm, training, seed=0, checkpoint_dir=ckpt, stop_after_steps=13, tag="crash"
    )
    assert crashed is None and not (model_dir / "model.safetensors").exists()
    state = load_checkpoint(ckpt)
    assert state["step"] == 10 and state["sequences_done"] == 40
    resumed, resumed_dir = run_training(arm, training, seed=0, checkpoint_dir=ckpt, tag="resume")
    assert resumed["resumed_from_step"] == 10
    _assert_same_weights(_weights(baseline[1]), _weights(resumed_dir))
    keep = ("step", "tokens", "bytes", "loss", "val_loss", "val_bpb", "lr")
    assert [{k: r[k] for k in keep} for r in _log(resumed_dir)] == [
        {k: r[k] for k in keep} for r in _log(baseline[1])
    ]
    # Rerunning a finished run resumes at its final checkpoint: only the export is redone.
    again, again_dir = run_training(arm, training, seed=0, checkpoint_dir=ckpt, tag="rerun")
    assert again["resumed_from_step"] == again["steps"]
    _assert_same_weights(_weights(baseline[1]), _weights(again_dir))


def test_checkpoint_of_another_config_is_not_resumed(run_training, tmp_path):
    arm = tiny_arm("bpe")
    ckpt = tmp_path / "ckpt"
    run_training(arm, tiny_training(), checkpoint_dir=ckpt, stop_after_steps=6, tag="a")
    with pytest.warns(UserWarning, match="another config"):
        summary, _ = run_training(arm, tiny_training(lr=1e-3), checkpoint_dir=ckpt, tag="b")
    assert summary["resumed_from_step"] is None
    # Logging-only options may change between crash and resume.
    with pytest.warns(UserWarning, match="another config"):  # b's checkpoint: lr differs
        run_training(arm, tiny_training(), checkpoint_dir=ckpt, stop_after_steps=6, tag="c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary, _ = run_training(
            arm, tiny_training(eval_interval=3, log_interval=1), checkpoint_dir=ckpt, tag="d"
        )
    assert summary["resumed_from_step"] == 5


def test_export_loads_with_plain_transformers_and_gives_the_same_logits(baseline, tmp_path):
    summary, model_dir = baseline
    state = load_checkpoint(model_dir.parent / "checkpoints")
    model = build_model(ArmSpec(**summary["arm"]), seed=0)
    model.load_state_dict(state["model"])
    model.eval()
    text = "Unicode: naïve café — 日本語. The for statement is used to iterate."
    script = f"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained({str(model_dir)!r})
model = AutoModelForCausalLM.from_pretrained({str(model_dir)!r}, attn_implementation="eager")
ids = tok({text!r}, return_tensors="pt")["input_ids"]
with torch.no_grad():
    logits = model(input_ids=ids).logits
torch.save({{"ids": ids, "logits": logits}}, {str(tmp_path / "out.pt")!r})
print(json.dumps({{"tokattn_imported": "tokattn" in sys.modules,
                  "class": type(model).__name__, "max_len": tok.model_max_length}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info == {
        "tokattn_imported": False,
        "class": "LlamaForCausalLM",
        "max_len": summary["context_tokens"],
    }
    out = torch.load(tmp_path / "out.pt")
    assert out["ids"][0, 0].item() == 0  # <s>, as in training
    with torch.no_grad():
        mine = model(input_ids=out["ids"]).logits
    torch.testing.assert_close(out["logits"], mine, atol=1e-5, rtol=1e-5)


def test_arms_with_different_tokenizers_see_the_same_bytes(run_training, tokenized_dir):
    budget = 6000
    seen, longest = {}, 0
    for name in ("byte", "bpe", "wordpiece"):
        summary, _ = run_training(
            tiny_arm(name), tiny_training(budget_bytes=budget), tag=f"budget_{name}"
        )
        packed = PackedSequences(
            TokenizedSplit.open(tokenized_dir / name, "train"), summary["context_tokens"], 0
        )
        longest = max(longest, int(packed.window_bytes.max()))
        # At least the budget, and short of it without the last sequence.
        assert budget <= summary["bytes_seen"] < budget + packed.window_bytes.max()
        assert summary["tokens_seen"] == summary["sequences"] * summary["context_tokens"]
        seen[name] = summary
    bytes_seen = [s["bytes_seen"] for s in seen.values()]
    assert max(bytes_seen) - min(bytes_seen) < longest  # the same bytes ± one sequence
    # ...reached through different token counts: ~1 byte per token for bytes, more for BPE.
    assert seen["byte"]["tokens_seen"] > seen["bpe"]["tokens_seen"]


def test_schedule_and_accumulation_arithmetic():
    assert grad_accum_steps(32, 8, 2) == 2
    with pytest.raises(ValueError, match="training.batch_size"):
        grad_accum_steps(12, 8, 1)
    lrs = [lr_at(s, 100, 10, 1.0, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert np.all(np.diff(lrs[10:]) <= 1e-12)


def test_tensorboard_scalars(run_training, tmp_path):
    pytest.importorskip("tensorboard")
    tb = tmp_path / "tb"
    run_training(
        tiny_arm("bpe"),
        tiny_training(budget_bytes=2000, tensorboard=True),
        tensorboard_dir=tb,
        tag="tb",
    )
    assert any(p.name.startswith("events.out.tfevents") for p in tb.rglob("*"))


def test_train_config_defaults_mirror_the_schema():
    from dataclasses import fields

    from tokattn.common.config import load_schema
    from tokattn.training.train_config import TrainConfig

    schema = load_schema()["properties"]["training"]["properties"]
    for field in fields(TrainConfig):
        if field.name == "budget_bytes":
            continue
        assert schema[field.name]["default"] == field.default, field.name
    assert set(schema) == {f.name for f in fields(TrainConfig)}

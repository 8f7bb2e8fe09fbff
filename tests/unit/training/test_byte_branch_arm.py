"""A byte-branch arm through the training stage: build, counts, FLOPs, train, resume, export."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tokattn.training.checkpoint import load_checkpoint
from tokattn.training.model import (
    ArmSpec,
    build_model,
    flops_per_token,
    non_embedding_params_for,
    parameter_counts,
    resolve_arm,
)

from .conftest import tiny_arm, tiny_training

SPECIALS = {"bos": 0, "eos": 1, "pad": 2, "unk": 3}
BRANCH = {
    "d_model": 16,
    "n_layers": 1,
    "n_heads": 2,
    "window_bytes": 16,
    "cross_layers": "all",
    "cross_heads": 2,
    "cross_window_bytes": 8,
}
BUDGET = 8000


def _branch_arm(**branch) -> dict:
    return tiny_arm("bpe", name="tiny_bpe_bb", byte_branch={**BRANCH, **branch})


def _plain(spec: ArmSpec) -> ArmSpec:
    return ArmSpec(**{k: v for k, v in spec.to_dict().items() if k != "byte_branch"})


def _spec(tokenizers_dir, **branch) -> ArmSpec:
    from tokattn.tokenizing.tokenization import load_tokenizer

    vocab = len(load_tokenizer(tokenizers_dir / "bpe"))
    return resolve_arm(_branch_arm(**branch), {}, vocab, 3.0, SPECIALS)


def test_branch_starts_from_the_plain_arm_and_counts_apart(tokenizers_dir):
    spec = _spec(tokenizers_dir)
    assert spec.byte_branch["cross_layers"] == [0, 1]
    assert "byte_branch" not in _plain(spec).to_dict()  # plain fingerprints are unchanged
    model = build_model(spec, 0, "eager", tokenizers_dir / "bpe")
    plain = build_model(_plain(spec), 0, "eager")
    assert type(model).__name__ == "ByteBranchForCausalLM"
    main = plain.state_dict()
    for key, value in model.model.state_dict().items():
        assert torch.equal(value, main[f"model.{key}"]), key
    # Gate 0: the untrained model computes exactly what the plain arm does.
    ids = torch.randint(4, spec.vocab_size, (2, 24))
    torch.testing.assert_close(model(input_ids=ids).logits, plain(input_ids=ids).logits)
    counts, plain_counts = parameter_counts(model), parameter_counts(plain)
    assert counts["non_embedding"] == plain_counts["non_embedding"]
    assert counts["non_embedding"] == non_embedding_params_for(32, 2, 2, 2, 64)
    branch = sum(p.numel() for p in model.byte_branch.parameters())
    branch += sum(p.numel() for p in model.cross_attn.parameters())
    assert counts["byte_branch"] == branch > 0 and plain_counts["byte_branch"] == 0
    assert counts["total"] == counts["embedding"] + counts["non_embedding"] + branch
    # The branch's FLOPs come on top of the main decoder's and grow with bytes per token.
    base = flops_per_token(_plain(spec), counts["non_embedding"])
    fpt = flops_per_token(spec, counts["non_embedding"], branch, 3.0)
    assert fpt > base + 6 * branch * 3.0
    assert flops_per_token(spec, counts["non_embedding"], branch, 4.0) > fpt
    with pytest.raises(ValueError, match="tokenizer folder"):
        build_model(spec, 0)


@pytest.fixture(scope="module")
def branch_run(run_training):
    return run_training(_branch_arm(), tiny_training(budget_bytes=BUDGET), seed=0, tag="bb")


def test_branch_arm_learns_and_reports_its_parameters(branch_run, tokenizers_dir):
    summary, model_dir = branch_run
    counts = summary["params"]
    assert summary["byte_branch_params"] == counts["byte_branch"] > 0
    plain = parameter_counts(build_model(_plain(_spec(tokenizers_dir)), 0))
    assert counts["non_embedding"] == plain["non_embedding"]
    assert summary["arm"]["byte_branch"]["cross_layers"] == [0, 1]
    assert summary["flops"] == summary["flops_per_token"] * summary["tokens_seen"]
    rows = [json.loads(json.dumps(r)) for r in summary_rows(model_dir)]
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert losses[-1] < losses[0] - 0.5
    # The branch takes part: training moved every cross-attention gate away from 0.
    weights = load_file(model_dir / "model.safetensors")
    gates = [v for k, v in weights.items() if k.startswith("cross_attn.") and k.endswith("gate")]
    assert len(gates) == 2 and all(g.abs().item() > 0 for g in gates)
    # The token -> bytes table travels with the weights.
    assert weights["token_bytes"].shape[0] == summary["arm"]["vocab_size"]
    for name in ("modeling_byte_branch.py", "configuration_byte_branch.py"):
        assert (model_dir / name).is_file()


def summary_rows(model_dir):
    import csv

    with open(model_dir / "train_log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_killed_branch_run_resumes_to_the_same_weights(branch_run, run_training, tmp_path):
    arm, training = _branch_arm(), tiny_training(budget_bytes=BUDGET)
    ckpt = tmp_path / "ckpt"
    crashed, _ = run_training(
        arm, training, seed=0, checkpoint_dir=ckpt, stop_after_steps=7, tag="bbcrash"
    )
    assert crashed is None and load_checkpoint(ckpt)["step"] == 5
    resumed, resumed_dir = run_training(arm, training, seed=0, checkpoint_dir=ckpt, tag="bbres")
    assert resumed["resumed_from_step"] == 5
    a, b = (
        load_file(branch_run[1] / "model.safetensors"),
        load_file(resumed_dir / "model.safetensors"),
    )
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # Another branch option is another run: its checkpoint is not resumed.
    with pytest.warns(UserWarning, match="another config"):
        other, _ = run_training(
            _branch_arm(cross_window_bytes=4), training, checkpoint_dir=ckpt, tag="bbother"
        )
    assert other["resumed_from_step"] is None


def test_export_loads_through_auto_classes_and_remote_code(branch_run, tmp_path):
    summary, model_dir = branch_run
    state = load_checkpoint(model_dir.parent / "checkpoints")
    spec = ArmSpec(**summary["arm"])
    tokenizer_dir = model_dir  # the export carries the tokenizer; the table comes from it
    model = build_model(spec, 0, "eager", tokenizer_dir)
    model.load_state_dict(state["model"])
    model.eval()
    text = "Unicode: naïve café — 日本語. The for statement is used to iterate."
    script = f"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path = {str(model_dir)!r}
tok = AutoTokenizer.from_pretrained(path, trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True).eval()
ids = tok({text!r}, return_tensors="pt")["input_ids"]
with torch.no_grad():
    logits = model(input_ids=ids).logits
torch.save({{"ids": ids, "logits": logits}}, {str(tmp_path / "out.pt")!r})
print(json.dumps({{"tokattn_imported": any(m.startswith("tokattn") for m in sys.modules),
                  "class": type(model).__name__}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info == {"tokattn_imported": False, "class": "ByteBranchForCausalLM"}
    out = torch.load(tmp_path / "out.pt")
    with torch.no_grad():
        mine = model(input_ids=out["ids"]).logits
    torch.testing.assert_close(out["logits"], mine, atol=1e-5, rtol=1e-5)
    # In-process: the registered class, through the Auto classes, no remote code.
    from transformers import AutoModelForCausalLM

    import tokattn.training.byte_branch  # noqa: F401

    auto = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    assert type(auto).__module__.startswith("tokattn.training.byte_branch")
    with torch.no_grad():
        torch.testing.assert_close(auto(input_ids=out["ids"]).logits, mine, atol=1e-5, rtol=1e-5)

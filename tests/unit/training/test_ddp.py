"""Data-parallel training: torchrun, gloo on CPU, two processes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from tokattn.training.checkpoint import load_checkpoint

from .conftest import tiny_arm, tiny_training


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_gloo_processes_match_one_process_with_twice_the_accumulation(run_training):
    arm = tiny_arm("bpe")
    # batch 8 = micro 2 × accum 4 on one process, micro 2 × accum 2 × 2 processes under DDP
    # (no_sync on the first micro-step of each optimizer step).
    training = tiny_training(batch_size=8, micro_batch_size=2, budget_bytes=6000)
    single, single_dir = run_training(arm, training, tag="single")
    ddp, ddp_dir = run_training(arm, training, world_size=2, threads=2, tag="ddp")
    assert (single["grad_accum_steps"], ddp["grad_accum_steps"]) == (4, 2)
    assert ddp["world_size"] == 2
    for key in ("steps", "sequences", "tokens_seen", "bytes_seen"):
        assert ddp[key] == single[key], key
    a, b = load_file(single_dir / "model.safetensors"), load_file(ddp_dir / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)
    assert ddp["final_val_loss"] == pytest.approx(single["final_val_loss"], rel=1e-4)
    # Rank 0 alone wrote the checkpoint and the export.
    assert load_checkpoint(ddp_dir.parent / "checkpoints")["step"] == ddp["steps"]
    assert sorted(p.name for p in ddp_dir.parent.iterdir()) == ["checkpoints", "model"]

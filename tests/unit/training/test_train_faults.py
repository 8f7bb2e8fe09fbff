"""Training under faults: divergence, corrupt checkpoints, two trainers on one run.

Every test runs the real trainer on the tiny arm (conftest.py): a few dozen CPU steps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import tokattn.training.checkpoint as checkpoint
import tokattn.training.loop as loop
from tokattn.training.checkpoint import (
    CheckpointError,
    RunLock,
    RunLockedError,
    load_checkpoint,
    save_checkpoint,
)

from .conftest import tiny_arm, tiny_training

BUDGET = 16000  # about 32 steps; checkpoints every 5


def _finite(state: dict) -> bool:
    return all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


@pytest.mark.parametrize(
    "spike_step,expected",
    [
        # Step 7's update makes the weights non-finite; step 8's loss is NaN.
        (7, "non-finite loss or gradient norm at step 8 of"),
        # Step 10's update does, and step 10 is a checkpoint step: its loss and gradient
        # norm were finite, the weights it would save are not.
        (10, "non-finite weights after step 10"),
    ],
)
def test_divergence_stops_training_names_step_and_keeps_last_good_checkpoint(
    run_training, tmp_path, monkeypatch, spike_step, expected
):
    real_lr_at = loop.lr_at

    def spiking_lr(step, *args):
        # From optimizer step `spike_step` (1-based; the scheduler counts from 0) on, the
        # learning rate is infinite, as `lr: .inf` would give.
        return float("inf") if step >= spike_step - 1 else real_lr_at(step, *args)

    monkeypatch.setattr(loop, "lr_at", spiking_lr)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(loop.TrainingDivergedError) as info:
        run_training(
            tiny_arm("bpe"),
            tiny_training(budget_bytes=BUDGET),
            checkpoint_dir=ckpt,
            tag=f"nan{spike_step}x",
        )
    msg = str(info.value)
    assert expected in msg, msg
    assert str(ckpt / "last.pt") in msg and "step 5" in msg, msg

    # The last good checkpoint is kept; nothing that looks like a finished model exists.
    state = load_checkpoint(ckpt)
    assert state["step"] == 5 and _finite(state["model"])
    run_dirs = list(tmp_path.parent.glob(f"nan{spike_step}x[0-9]*"))
    assert len(run_dirs) == 1
    written = {p.name for p in run_dirs[0].rglob("*")}
    assert not written & {"model.safetensors", "train_summary.json", "config.json"}, written

    # With the cause removed, a rerun resumes from the good checkpoint and finishes.
    monkeypatch.setattr(loop, "lr_at", real_lr_at)
    summary, model_dir = run_training(
        tiny_arm("bpe"), tiny_training(budget_bytes=BUDGET), checkpoint_dir=ckpt, tag="fixed"
    )
    assert summary["resumed_from_step"] == 5
    assert _finite(load_file(model_dir / "model.safetensors"))


def test_nonfinite_gradient_norm_stops_training_without_clipping(
    run_training, tmp_path, monkeypatch
):
    """grad_clip 0 (no clipping): the norm is still measured and checked."""
    real_clip = torch.nn.utils.clip_grad_norm_
    calls = []

    def poisoned(params, max_norm, *args, **kwargs):
        params = list(params)
        calls.append(max_norm)
        if len(calls) == 3:
            params[0].grad.fill_(float("nan"))
        return real_clip(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", poisoned)
    with pytest.raises(loop.TrainingDivergedError, match="at step 3 of"):
        run_training(tiny_arm("bpe"), tiny_training(budget_bytes=BUDGET, grad_clip=0.0))
    assert calls[0] == float("inf")


def test_truncated_last_checkpoint_falls_back_to_previous_and_resumes_identically(
    run_training, tmp_path
):
    arm, training = tiny_arm("bpe"), tiny_training(budget_bytes=BUDGET)
    ckpt = tmp_path / "ckpt"
    summary, _ = run_training(arm, training, checkpoint_dir=ckpt, stop_after_steps=12)
    assert summary is None  # stopped after step 12: checkpoints of steps 5 and 10
    assert torch.load(ckpt / "prev.pt", weights_only=False)["step"] == 5
    last = ckpt / "last.pt"
    assert torch.load(last, weights_only=False)["step"] == 10
    with open(last, "r+b") as fh:  # a copy or a full disk cut it short
        fh.truncate(last.stat().st_size // 2)

    with pytest.warns(UserWarning, match=rf"{last}.*previous checkpoint .*prev\.pt \(step 5\)"):
        state = load_checkpoint(ckpt)
    assert state["step"] == 5

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed, resumed_dir = run_training(arm, training, checkpoint_dir=ckpt, tag="resumed")
    assert resumed["resumed_from_step"] == 5
    _, straight_dir = run_training(arm, training, tag="straight")
    a, b = (
        load_file(resumed_dir / "model.safetensors"),
        load_file(straight_dir / "model.safetensors"),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_no_loadable_checkpoint_is_an_error_naming_both_files(tmp_path):
    save_checkpoint({"step": 1, "model": {}}, tmp_path)
    save_checkpoint({"step": 2, "model": {}}, tmp_path)
    for name in ("last.pt", "prev.pt"):
        (tmp_path / name).write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert str(tmp_path / "last.pt") in str(info.value)
    assert str(tmp_path / "prev.pt") in str(info.value)


def test_a_checkpoint_that_does_not_load_back_is_never_installed(tmp_path, monkeypatch):
    save_checkpoint({"step": 1, "model": {"w": torch.ones(3)}}, tmp_path)

    def short_write(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 cut short")

    monkeypatch.setattr(checkpoint.torch, "save", short_write)
    with pytest.raises(CheckpointError, match="does not load back"):
        save_checkpoint({"step": 2, "model": {"w": torch.zeros(3)}}, tmp_path)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left


def test_temp_names_are_unique_per_process(tmp_path, monkeypatch):
    # What another trainer would be writing under the old shared name.
    other = tmp_path / ".last.pt.tmp"
    other.write_bytes(b"another writer's half-written checkpoint")
    installed = []
    real_replace = os.replace

    def spy(src, dst):
        installed.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", spy)
    save_checkpoint({"step": 1, "model": {}}, tmp_path)
    tmp_name = installed[-1][0]
    assert installed[-1][1] == "last.pt"
    assert f".{os.getpid()}." in tmp_name and tmp_name != other.name
    assert other.read_bytes() == b"another writer's half-written checkpoint"


def _hold_lock(directory) -> subprocess.Popen:
    code = (
        "import sys, time; from tokattn.training.checkpoint import RunLock; "
        f"RunLock({str(directory)!r}).acquire(); print('locked', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_trainer_on_the_same_run_refuses_and_a_dead_holder_is_taken_over(
    run_training, tmp_path
):
    ckpt = tmp_path / "ckpt"
    holder = _hold_lock(ckpt)
    try:
        with pytest.raises(RunLockedError) as info:
            run_training(tiny_arm("bpe"), tiny_training(budget_bytes=BUDGET), checkpoint_dir=ckpt)
        assert f"pid {holder.pid}" in str(info.value) and str(ckpt) in str(info.value)
        assert not (ckpt / "last.pt").exists()  # the refused trainer wrote nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock: the file stays
        holder.wait()
    assert (ckpt / ".train.lock").exists()
    stale_tmp = ckpt / f".last.pt.{holder.pid}.abc.tmp"
    stale_tmp.write_bytes(b"half a checkpoint")

    summary, _ = run_training(
        tiny_arm("bpe"), tiny_training(budget_bytes=BUDGET), checkpoint_dir=ckpt, tag="after"
    )
    assert summary is not None
    assert not stale_tmp.exists()
    assert not (ckpt / ".train.lock").exists()  # released at the end


def test_run_lock_in_one_process_is_exclusive(tmp_path):
    with RunLock(tmp_path):
        start = time.monotonic()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
        assert time.monotonic() - start < 5  # refuses at once, never waits
    with RunLock(tmp_path):
        pass


@pytest.mark.parametrize("context_bytes", [4 * 2**20, 300_000])
def test_context_that_does_not_fit_names_the_key(run_training, context_bytes):
    """Above 2^20 tokens, or longer than the split: found only once the tokenizer is known."""
    with pytest.raises(ValueError, match="config key 'context_bytes'"):
        run_training(tiny_arm("bpe", context_bytes=context_bytes), tiny_training())


def test_no_stage_accepts_a_nan_model_or_a_nan_attention_map(run_training, tmp_path):
    """Export, the attention dump and the benchmarks refuse NaN weights; the dump refuses
    a non-finite attention map even when the weights look fine."""
    import shutil

    from safetensors.torch import save_file

    from tokattn.attention.dump import DumpConfig, architecture, load_causal_lm, probe_record
    from tokattn.common.model_checks import NonFiniteModelError
    from tokattn.evaluation.model_io import load_scoring_model

    _, model_dir = run_training(tiny_arm("bpe"), tiny_training(budget_bytes=4000), tag="ok")
    poisoned = tmp_path / "poisoned"
    shutil.copytree(model_dir, poisoned)
    weights = load_file(poisoned / "model.safetensors")
    name = sorted(weights)[0]
    weights[name][0] = float("nan")
    save_file(weights, poisoned / "model.safetensors", metadata={"format": "pt"})
    for load in (lambda p: load_causal_lm(str(p)), load_scoring_model):
        with pytest.raises(NonFiniteModelError, match=rf"{poisoned}.*{name}"):
            load(poisoned)

    model, tokenizer = load_causal_lm(str(model_dir))
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.fill_(float("inf"))  # overflowing scores
    probe = {"id": "p0", "text": "Hello world, this is a probe."}
    with pytest.raises(ValueError, match=r"probe 'p0': attention\[0\] holds NaN or inf"):
        probe_record(model, architecture(model), tokenizer, probe, DumpConfig(), 64, 32)

    from tokattn.training.export import export_model

    with pytest.raises(NonFiniteModelError, match="not exported"):
        export_model(model, SimpleNamespace(name="tiny"), None, tmp_path / "out", None, {})
    assert not (tmp_path / "out").exists()


def test_run_lock_without_flock_checks_the_recorded_pid(tmp_path, monkeypatch):
    """Filesystems without flock: a live recorded pid refuses, a dead one is taken over."""
    import errno
    import json
    import socket

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(checkpoint.fcntl, "flock", no_flock)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    lock_file = tmp_path / ".train.lock"
    try:
        lock_file.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        with pytest.raises(RunLockedError, match=f"pid {sleeper.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    with RunLock(tmp_path):  # the recorded pid is dead now
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
    assert not lock_file.exists()

"""kill -9 during the dump leaves a temp file; the next job on that output removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.injection import write_probes
from tests.tiny_models import save_tiny_model
from tokattn.attention.dump import dump_attention
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.common.atomic_files import remove_stale_temps

ROOT = Path(__file__).resolve().parents[2]
DUMP = """
import sys
from tokattn.attention.dump import dump_attention
dump_attention(sys.argv[1], sys.argv[2], sys.argv[3], "tiny", 0, {"device": "cpu"})
"""


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "seed0.h5"
    dead = tmp_path / f".seed0.h5.tmp-{_dead_pid()}"
    other_target = tmp_path / f".seed1.h5.tmp-{_dead_pid()}"
    live_proc = subprocess.Popen(["sleep", "60"])
    try:
        live = tmp_path / f".seed0.h5.tmp-{live_proc.pid}"
        for path in (dead, other_target, live):
            path.write_bytes(b"half a store")
        with AttentionStoreWriter(target, {"model": "m"}):
            assert not dead.exists()
        assert live.exists() and other_target.exists()
        assert remove_stale_temps(tmp_path / "seed1.h5") == [other_target]
    finally:
        live_proc.kill()
        live_proc.wait()


def test_kill_9_during_dump_then_rerun(tmp_path):
    model = save_tiny_model(tmp_path / "model", "byte", context=64)
    texts = [f"Probe number {i}: the quick brown fox jumps over the lazy dog." for i in range(40)]
    probes = write_probes(tmp_path / "probes.jsonl", texts)
    out = tmp_path / "attention" / "seed0.h5"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", DUMP, str(model), str(probes), str(out)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not list(out.parent.glob(".seed0.h5.tmp-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "the dump never started writing"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = list(out.parent.glob(".seed0.h5.tmp-*"))
    assert leftovers and not out.exists()  # what a killed job leaves
    dump_attention(model, probes, out, "tiny", 0, {"device": "cpu"})
    assert list(out.parent.iterdir()) == [out]
    with AttentionStore(out) as store:
        assert len(store) == 40

"""A real attention store of a tiny random model (once per session); a small filesystem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.faults.injection import tiny_store


@pytest.fixture(scope="session")
def real_store(tmp_path_factory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("faults") / "attention")


@pytest.fixture
def small_filesystem(tmp_path):
    """Return a factory mounting a tmpfs of `size` bytes (a real full disk); unmounted after.

    Mounting needs root (or CAP_SYS_ADMIN); without it the test is skipped with the reason.
    """
    mounts = []

    def mount(size: int) -> Path:
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            pytest.skip("no mount command: cannot make a small filesystem")
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=30)

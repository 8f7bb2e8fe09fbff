"""The test SLURM cluster (tests/slurm/start.sh) and a runner for the workflow on it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# One fixed state dir: a cluster started by .ci/run (`tests/slurm/start.sh`) is reused.
STATE_DIR = Path(os.environ.get("TOKATTN_SLURM_DIR", "/tmp/tokattn-slurm"))
START_EXIT_CANNOT_RUN = 3


@dataclass
class SlurmCluster:
    """A running test cluster: the environment its clients need, and its state dir."""

    env: dict[str, str]
    state_dir: Path
    start_s: float
    owned: bool

    def run(self, *cmd: str, timeout: float = 30) -> str:
        """Return the stdout of a SLURM client command (squeue, scontrol, scancel)."""
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"{shlex.join(cmd)} failed: {proc.stderr}")
        return proc.stdout

    def jobs(self, run_name: str | None = None) -> list[dict[str, str]]:
        """Every job slurmctld still remembers (MinJobAge=600 s): id, partition, state, rule."""
        cmd = ["squeue", "-h", "-t", "all", "-o", "%i|%P|%T|%k|%j"]
        if run_name:
            cmd += ["--name", run_name]
        rows = [line.split("|") for line in self.run(*cmd).splitlines() if line.strip()]
        keys = ("id", "partition", "state", "comment", "name")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def job_detail(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (TresPerJob, NumTasks, Partition, ...)."""
        text = self.run("scontrol", "-o", "show", "job", job_id)
        return dict(re.findall(r"(\w+)=(\S*)", text))


@pytest.fixture(scope="session")
def slurm_cluster():
    """Start the test cluster or join a running one; leave it when the session ends.

    The session holds a lease (its PID) on the cluster: `stop.sh --release` stops it only
    once no other session (another pytest run beside this one) holds a lease, and never
    a cluster that .ci/run or a person started without one.
    """
    if sys.platform != "linux":
        pytest.skip("the test SLURM cluster needs Linux (Debian packages)")
    lease = str(os.getpid())
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(HERE / "start.sh"), str(STATE_DIR)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "TOKATTN_SLURM_LEASE": lease},
    )
    if proc.returncode == START_EXIT_CANNOT_RUN:
        pytest.skip(f"no test SLURM cluster: {proc.stderr.strip().splitlines()[-1]}")
    if proc.returncode != 0:
        pytest.fail(f"tests/slurm/start.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    env = dict(re.findall(r"^export (\w+)=(.*)$", proc.stdout, flags=re.M))
    cluster = SlurmCluster(
        env={k: v for k, v in env.items() if k != "TOKATTN_SLURM_STARTED"},
        state_dir=STATE_DIR,
        start_s=time.monotonic() - t0,
        owned=env.get("TOKATTN_SLURM_STARTED") == "1",
    )
    print(f"\ntest SLURM cluster ready in {cluster.start_s:.1f} s ({proc.stderr.strip()})")
    yield cluster
    subprocess.run(
        ["bash", str(HERE / "stop.sh"), "--release", lease, str(STATE_DIR)],
        timeout=700,
        check=False,
    )


def snakemake_slurm_cmd(
    workdir: Path, *args: str, limit_s: int, snakefile: Path = REPO / "Snakefile"
) -> list[str]:
    """The command line that runs a workflow (the repo's) in `workdir` through profiles/slurm.

    `timeout -s INT`: Snakemake ignores SIGTERM while it waits on SLURM; on SIGINT it
    cancels its jobs and exits, so a hung run cannot outlive the test.
    """
    return [
        "timeout",
        "-s",
        "INT",
        "-k",
        "60",
        str(limit_s),
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "-d",
        str(workdir),
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--workflow-profile",
        str(HERE / "profile"),
        *args,
    ]


def snakemake_slurm_env(cluster: SlurmCluster) -> dict[str, str]:
    """Environment of a test run: the cluster's, plus the partitions the profile reads."""
    return {
        **os.environ,
        **cluster.env,
        "TOKATTN_SLURM_PARTITION": "cpu",
        "TOKATTN_SLURM_GPU_PARTITION": "gpu",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }


def submitted_jobs(snakemake_output: str) -> dict[str, str]:
    """SLURM job id -> Snakemake rule (or group) log dir, from the plugin's submit lines."""
    pairs = re.findall(
        r"has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/",
        snakemake_output,
    )
    return dict(pairs)

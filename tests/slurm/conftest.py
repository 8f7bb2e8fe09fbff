"""The test SLURM cluster (tests/slurm/start.sh) and a runner for the workflow on it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .watch import Watchdog, daemons_down

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
START_EXIT_CANNOT_RUN = 3
# Partitions start.sh defines and the tests submit to.
PARTITIONS = ("cpu", "gpu", "small")


def require_slurm() -> bool:
    """.ci/run sets TOKATTN_REQUIRE_SLURM=1: there a cluster that cannot run fails the tests."""
    return os.environ.get("TOKATTN_REQUIRE_SLURM", "") not in ("", "0")


def unavailable(reason: str):
    """Skip (a user's machine without root or packages), or fail where SLURM is required."""
    if require_slurm():
        pytest.fail(f"TOKATTN_REQUIRE_SLURM is set but {reason}", pytrace=False)
    pytest.skip(reason)


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
        """Every job slurmctld still remembers (MinJobAge=86400 s): id, partition, state, rule."""
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

    def partitions(self) -> dict[str, dict[str, str]]:
        """`scontrol show partition`: name -> its settings (MaxCPUsPerNode, Nodes, ...)."""
        text = self.run("scontrol", "-o", "show", "partition")
        parts = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in text.splitlines()]
        return {p["PartitionName"]: p for p in parts if "PartitionName" in p}

    def watchdog(self, workdir: Path, **kw) -> Watchdog:
        """A watchdog for the jobs submitted from now on (see watch.py)."""
        return Watchdog(self.env, self.state_dir, workdir, **kw)


def cluster_env(state_dir: Path) -> dict[str, str]:
    """What a client of the cluster in `state_dir` needs: its config, its client wrappers."""
    return {
        "SLURM_CONF": str(state_dir / "slurm.conf"),
        "TOKATTN_SLURM_DIR": str(state_dir),
        "PATH": f"{state_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def check_cluster(cluster: SlurmCluster, origin: str) -> None:
    """Fail unless the cluster answers and defines every partition the tests submit to."""
    if down := daemons_down(cluster.state_dir):
        pytest.fail(f"{origin}: {down}", pytrace=False)
    try:
        parts = cluster.partitions()
    except (AssertionError, subprocess.TimeoutExpired) as err:
        pytest.fail(f"{origin}: the cluster does not answer: {err}", pytrace=False)
    missing = [p for p in PARTITIONS if p not in parts]
    if missing:
        pytest.fail(
            f"{origin}: no partition {', '.join(missing)} (it has {', '.join(parts) or 'none'});"
            " the tests need those of tests/slurm/start.sh",
            pytrace=False,
        )


def attach_cluster(state_dir: Path) -> SlurmCluster:
    """The running cluster in `state_dir` (TOKATTN_SLURM_DIR), checked; fails if there is none."""
    cluster = SlurmCluster(cluster_env(state_dir), state_dir, 0.0, owned=False)
    check_cluster(cluster, f"TOKATTN_SLURM_DIR={state_dir}")
    return cluster


def start_cluster(state_dir: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run start.sh (a new state dir unless given); its stdout holds the export lines."""
    return subprocess.run(
        ["bash", str(HERE / "start.sh"), *([str(state_dir)] if state_dir else [])],
        capture_output=True,
        text=True,
        timeout=1500,  # apt-get install is bounded inside (600 s + 300 s + 600 s)
        check=False,
        env={**os.environ, **env},
    )


def exported(stdout: str) -> dict[str, str]:
    """The `export NAME=VALUE` lines start.sh prints (values shell-quoted)."""
    return {
        k: shlex.split(v)[0] if v else ""
        for k, v in re.findall(r"^export (\w+)=(.*)$", stdout, flags=re.M)
    }


def stop_cluster(state_dir: Path, remove: bool = True) -> None:
    """Stop the cluster in `state_dir` (stop.sh) and delete the directory."""
    subprocess.run(["bash", str(HERE / "stop.sh"), str(state_dir)], timeout=180, check=False)
    if remove and not (state_dir / "pids").exists():
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster():
    """The test cluster: the one named by TOKATTN_SLURM_DIR, or a new private one.

    With TOKATTN_SLURM_DIR set (.ci/run exports the directory of the cluster it started,
    as does `eval "$(tests/slurm/start.sh)"`), the tests use that cluster and leave it
    running; it must answer and have the partitions the tests use, or they fail. Unset,
    the session starts its own cluster in a new directory on free ports (several
    sessions and other clusters on the machine do not meet) and stops it at the end.
    Where no cluster can run (not Linux, not root, no packages and no apt) the tests
    are skipped saying why, or fail under TOKATTN_REQUIRE_SLURM=1 (.ci/run).
    """
    if sys.platform != "linux":
        unavailable("the test SLURM cluster needs Linux (Debian packages)")
    if named := os.environ.get("TOKATTN_SLURM_DIR"):
        cluster = attach_cluster(Path(named))
        print(f"\nusing the test SLURM cluster in {named} (TOKATTN_SLURM_DIR)")
        yield cluster
        return
    t0 = time.monotonic()
    proc = start_cluster()
    env = exported(proc.stdout)
    state_dir = Path(env["TOKATTN_SLURM_DIR"]) if "TOKATTN_SLURM_DIR" in env else None
    if proc.returncode == START_EXIT_CANNOT_RUN:
        lines = proc.stderr.strip().splitlines() or ["start.sh gave no reason"]
        unavailable(f"no test SLURM cluster: {lines[-1]}")
    if proc.returncode != 0 or state_dir is None:
        pytest.fail(
            f"tests/slurm/start.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    cluster = SlurmCluster(
        env={k: v for k, v in env.items() if k in ("SLURM_CONF", "TOKATTN_SLURM_DIR", "PATH")},
        state_dir=state_dir,
        start_s=time.monotonic() - t0,
        owned=True,
    )
    try:
        check_cluster(cluster, f"the cluster start.sh started in {state_dir}")
        print(f"\ntest SLURM cluster ready in {cluster.start_s:.1f} s ({proc.stderr.strip()})")
        yield cluster
    finally:
        stop_cluster(state_dir)


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

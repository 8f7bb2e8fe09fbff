"""The test cluster itself: private to its state dir and ports, never reused silently,
and a run that cannot finish stops at once with SLURM's reason (tests/slurm/watch.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import (
    PARTITIONS,
    SlurmCluster,
    attach_cluster,
    exported,
    start_cluster,
    stop_cluster,
    unavailable,
)
from .watch import (
    Watchdog,
    broken_step,
    job_problem,
    node_problem,
    parse_scontrol_jobs,
    wait_watched,
)

CLASH = 4


def _wait_done(cluster: SlurmCluster, job_id: str, limit_s: float = 60) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        state = cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T").strip()
        if state in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"}:
            return state
        time.sleep(0.3)
    return f"not done after {limit_s} s: {state}"


# --- no cluster needed: the watchdog's judgement on canned SLURM output ---------------


def test_pending_reasons_that_never_clear_are_reported_at_once():
    row = (
        "JobId=7 JobName=x JobState=PENDING Reason=PartitionConfig Dependency=(null) "
        "Restarts=0 Partition=small TRES=cpu=4,mem=16000M,node=1"
    )
    (job,) = parse_scontrol_jobs(row)
    why = job_problem(job, now=0.0, seen_pending={}, limit_s=600)
    assert why and "job 7" in why and "Reason=PartitionConfig" in why and "cpu=4" in why
    job["Reason"] = "ReqNodeNotAvail,_UnavailableNodes:vm"
    assert "ReqNodeNotAvail" in job_problem(job, 0.0, {}, 600)
    # Waiting for resources clears by itself: only reported after the limit.
    job["Reason"] = "Resources"
    seen: dict[str, float] = {}
    assert job_problem(job, 0.0, seen, 600) is None
    assert job_problem(job, 599.0, seen, 600) is None
    assert "PENDING for 601 s" in job_problem(job, 601.0, seen, 600)
    # While other jobs run (now=None), waiting for their CPUs is not timed at all...
    assert job_problem(job, None, {}, 600) is None
    # ...but a reason that never clears is reported all the same.
    job["Reason"] = "PartitionConfig"
    assert "can never start" in job_problem(job, None, {}, 600)


def test_node_failures_requeues_and_broken_steps_are_reported():
    (job,) = parse_scontrol_jobs("JobId=9 JobState=NODE_FAIL Reason=NodeDown Restarts=0")
    assert "NODE_FAIL" in job_problem(job, 0.0, {}, 600)
    (job,) = parse_scontrol_jobs("JobId=9 JobState=PENDING Reason=BeginTime Restarts=3")
    assert "requeued 3 time(s)" in job_problem(job, 0.0, {}, 600)
    assert "down*" in node_problem("vm|down*|Not responding\n")
    assert node_problem("vm|idle|none\nvm|mix|none\n") is None
    log = "host vm\nsrun: error: Unable to confirm allocation for job 12: Invalid job id\n"
    assert (
        broken_step(log) == "srun: error: Unable to confirm allocation for job 12: Invalid job id"
    )
    # A rule that fails, or a job cancelled on purpose, is not the cluster's fault.
    assert broken_step("srun: error: vm: task 0: Exited with exit code 1\n") is None
    assert broken_step("slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026 ***\n") is None


# --- the cluster -----------------------------------------------------------------------


@pytest.mark.slurm
def test_cluster_has_the_partitions_the_tests_use(slurm_cluster: SlurmCluster):
    parts = slurm_cluster.partitions()
    assert set(PARTITIONS) <= set(parts), parts
    assert parts["small"]["MaxCPUsPerNode"] == "2", parts["small"]
    assert slurm_cluster.run("sinfo", "-h", "-p", "gpu", "-o", "%G").strip().startswith("gpu:")


@pytest.mark.slurm
def test_a_running_cluster_is_never_reused_and_a_taken_port_is_named(
    slurm_cluster: SlurmCluster, tmp_path
):
    proc = start_cluster(slurm_cluster.state_dir)
    assert proc.returncode == CLASH, proc.stderr
    assert f"already running in {slurm_cluster.state_dir}" in proc.stderr, proc.stderr
    assert f"TOKATTN_SLURM_DIR={slurm_cluster.state_dir}" in proc.stderr, proc.stderr
    assert not proc.stdout.strip()  # nothing to eval: the caller cannot attach by mistake

    conf = (slurm_cluster.state_dir / "slurm.conf").read_text()
    port = next(
        line.split("=")[1] for line in conf.splitlines() if line.startswith("SlurmctldPort")
    )
    proc = start_cluster(tmp_path / "second", TOKATTN_SLURM_PORT=port)
    assert proc.returncode == CLASH, proc.stderr
    assert f"port {port} is in use" in proc.stderr and "slurmctld" in proc.stderr, proc.stderr
    assert not (tmp_path / "second" / "pids").exists() or not any(
        (tmp_path / "second" / "pids").iterdir()
    )


@pytest.mark.slurm
def test_two_clusters_side_by_side_each_run_their_own_job_steps(
    slurm_cluster: SlurmCluster, tmp_path
):
    """A second cluster gets its own dir and ports; a job step inside each job (srun with
    SLURM_CONF removed, as the Snakemake jobstep plugin runs it) reaches its own cluster."""
    proc = start_cluster()
    env = exported(proc.stdout)
    second_dir = Path(env.get("TOKATTN_SLURM_DIR", tmp_path / "none"))
    try:
        assert proc.returncode == 0, proc.stderr
        assert second_dir != slurm_cluster.state_dir
        second = SlurmCluster(
            {k: env[k] for k in ("SLURM_CONF", "TOKATTN_SLURM_DIR", "PATH")},
            second_dir,
            0.0,
            owned=True,
        )
        ports = [
            [
                line
                for line in (c.state_dir / "slurm.conf").read_text().splitlines()
                if "Port=" in line
            ]
            for c in (slurm_cluster, second)
        ]
        assert not set(ports[0]) & set(ports[1]), ports
        ids = {}
        for name, cluster in (("first", slurm_cluster), ("second", second)):
            out = tmp_path / f"{name}.out"
            step = f"env -u SLURM_CONF srun -n1 sh -c 'echo {name} $SLURM_JOB_ID $SLURM_STEP_ID'"
            ids[name] = cluster.run("sbatch", "--parsable", "-o", str(out), "--wrap", step).strip()
        for name, cluster in (("first", slurm_cluster), ("second", second)):
            assert _wait_done(cluster, ids[name]) == "COMPLETED", tmp_path / f"{name}.out"
            text = (tmp_path / f"{name}.out").read_text()
            assert text.split() == [name, ids[name], "0"], text
            # Each cluster knows only its own job.
            assert (
                cluster.run("squeue", "-h", "-t", "all", "-o", "%i").split().count(ids[name]) == 1
            )
    finally:
        stop_cluster(second_dir)
    assert not (second_dir / "pids").exists()


@pytest.mark.slurm
def test_a_job_step_that_reaches_a_foreign_cluster_fails_with_its_log(
    slurm_cluster: SlurmCluster, tmp_path
):
    """The hang of a shared machine: a job step talking to another cluster's controller
    ("srun: error: Unable to confirm allocation"). The watchdog reports it from the job's
    log at once, with the log, instead of the run waiting out its retries."""
    proc = start_cluster()
    env = exported(proc.stdout)
    other_dir = Path(env.get("TOKATTN_SLURM_DIR", tmp_path / "none"))
    try:
        assert proc.returncode == 0, proc.stderr
        watchdog = Watchdog(slurm_cluster.env, slurm_cluster.state_dir, tmp_path)
        logs = tmp_path / ".snakemake" / "slurm_logs" / "rule_probe"
        logs.mkdir(parents=True)
        step = f"SLURM_CONF={env['SLURM_CONF']} /usr/bin/srun -n1 true; sleep 300"
        job_id = slurm_cluster.run(
            "sbatch", "--parsable", "-o", str(logs / "%j.log"), "--wrap", step
        ).strip()
        waiter = subprocess.Popen(["sleep", "600"])
        t0 = time.monotonic()
        try:
            returncode, problem = wait_watched(waiter, watchdog, limit_s=120, poll_s=0.5)
        finally:
            slurm_cluster.run("scancel", job_id)
        assert time.monotonic() - t0 < 60 and returncode is not None
        assert problem and f"job {job_id}: srun: error: Unable to confirm allocation" in problem
        assert f"--- {logs / f'{job_id}.log'}" in problem and "slurmd.log" in problem, problem
    finally:
        stop_cluster(other_dir)


@pytest.mark.slurm
def test_a_node_failure_stops_the_run_with_the_daemon_logs(slurm_cluster, tmp_path):
    """slurmd dies under a running job (in a second, private cluster): SLURM would mark the
    node down after SlurmdTimeout and requeue the job; the watchdog stops at once."""
    proc = start_cluster()
    env = exported(proc.stdout)
    other_dir = Path(env.get("TOKATTN_SLURM_DIR", tmp_path / "none"))
    try:
        assert proc.returncode == 0, proc.stderr
        other = SlurmCluster(
            {k: env[k] for k in ("SLURM_CONF", "TOKATTN_SLURM_DIR", "PATH")}, other_dir, 0.0, True
        )
        watchdog = other.watchdog(tmp_path)
        job_id = other.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 300")
        deadline = time.monotonic() + 60
        while other.run("squeue", "-h", "-j", job_id.strip(), "-o", "%T").strip() != "RUNNING":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.3)
        os.kill(int((other_dir / "pids" / "slurmd.pid").read_text()), signal.SIGKILL)
        waiter = subprocess.Popen(["sleep", "600"])
        t0 = time.monotonic()
        returncode, problem = wait_watched(waiter, watchdog, limit_s=120, poll_s=0.5)
        assert time.monotonic() - t0 < 30 and returncode is not None
        assert problem and "slurmd of the test cluster is not running" in problem, problem
        assert "slurmd.log (tail)" in problem and "slurmctld.log (tail)" in problem, problem
    finally:
        stop_cluster(other_dir)


def test_a_named_cluster_that_is_not_running_fails_clearly(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"TOKATTN_SLURM_DIR=.*munged .*not running"):
        attach_cluster(tmp_path)


@pytest.mark.slurm
def test_a_job_that_can_never_start_stops_the_run_with_the_reason(
    slurm_cluster: SlurmCluster, tmp_path
):
    """4 CPUs in the 2-CPU partition `small`: PENDING (PartitionConfig) for ever in SLURM;
    the watchdog stops the waiting run within seconds and names the reason."""
    watchdog = Watchdog(slurm_cluster.env, slurm_cluster.state_dir, tmp_path)
    job_id = slurm_cluster.run(
        "sbatch", "--parsable", "-p", "small", "-c", "4", "-o", "/dev/null", "--wrap", "true"
    ).strip()
    waiter = subprocess.Popen(["sleep", "600"])
    t0 = time.monotonic()
    try:
        returncode, problem = wait_watched(waiter, watchdog, limit_s=120, poll_s=0.5)
    finally:
        slurm_cluster.run("scancel", job_id)
    assert time.monotonic() - t0 < 60
    assert returncode is not None and problem, problem
    assert f"job {job_id} can never start" in problem and "Reason=PartitionConfig" in problem
    assert "partition small" in problem and "slurmctld.log" in problem, problem


# --- where no cluster can run --------------------------------------------------------


def test_without_root_start_sh_says_why_at_once(tmp_path):
    """A user without root gets exit 3 and the reason within seconds, nothing left behind."""
    cmd = ["bash", str(Path(__file__).parent / "start.sh")]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("needs setpriv to drop root")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    before = set(Path("/tmp").glob("tokattn-slurm.*"))
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "cannot start a SLURM cluster here: needs root" in proc.stderr, proc.stderr
    assert not proc.stdout.strip()
    assert time.monotonic() - t0 < 30
    assert set(Path("/tmp").glob("tokattn-slurm.*")) <= before


def test_no_cluster_is_a_skip_for_users_and_a_failure_where_required(monkeypatch):
    monkeypatch.delenv("TOKATTN_REQUIRE_SLURM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        unavailable("no test SLURM cluster: needs root")
    monkeypatch.setenv("TOKATTN_REQUIRE_SLURM", "1")
    with pytest.raises(
        pytest.fail.Exception, match="TOKATTN_REQUIRE_SLURM is set but .*needs root"
    ):
        unavailable("no test SLURM cluster: needs root")

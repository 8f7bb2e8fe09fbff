"""Bounded waiting on the test SLURM cluster: a run that cannot finish fails, with why.

Snakemake's SLURM plugin waits for a PENDING job for ever, and resubmits a job that died
for a node failure or a broken job step. In the tests such a run would only end at its
time limit, saying nothing. `Watchdog.check()` looks at the cluster while a run goes on
and returns a message as soon as the run can no longer succeed:

- a job of the run is PENDING for a reason that never clears by itself (the request
  exceeds what the partition offers, the node is down, the job is held);
- a job ended in NODE_FAIL/BOOT_FAIL, or was requeued (`Restarts` > 0);
- the node is down, drained or failing;
- a daemon of the cluster exited;
- a job's SLURM log shows a broken job step (`srun: error: Unable to confirm allocation`,
  an authentication failure, ...);
- a job has been PENDING for longer than `pending_limit_s` for any reason while no job
  of the cluster ran.

The message names the job, its state and reason, and carries `scontrol show job`, the
job's SLURM log and the tails of the slurmctld and slurmd logs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Pending reasons that do not clear while the cluster stays as it is (SLURM's
# `squeue --help`/job_reason codes): the request does not fit the partition or its
# nodes, the nodes are unusable, the job is held or its dependency can never be met.
NEVER_CLEARS = {
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "PartitionDown",
    "PartitionInactive",
    "NodeDown",
    "BadConstraints",
    "InvalidAccount",
    "InvalidQOS",
    "JobHeldAdmin",
    "JobHeldUser",
    "DependencyNeverSatisfied",
    "launch_failed_requeued_held",
    "ReqNodeNotAvail",
}
# States in which a job (or its node) failed for reasons of the cluster, not the rule.
FAILED_STATES = {"NODE_FAIL", "BOOT_FAIL", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"}
BAD_NODE_STATES = re.compile(r"down|drain|fail|unk|inval|\*")
# A node that only stopped answering (`idle*`, `mix*`) may be slow under load: it counts
# once it has not answered for this long (slurmctld marks it down after SlurmdTimeout).
NOT_RESPONDING_GRACE_S = 30
# Job step failures in a job's SLURM log that retries cannot fix (the step cannot reach
# its allocation, authentication fails, the allocation was revoked).
BROKEN_STEP = re.compile(
    r"srun: error: (Unable to confirm allocation|Unable to create step|"
    r".*(Communication connection failure|Invalid job credential|Zero Bytes were transmitted"
    r"|Protocol authentication error|Munge))"
    r"|Job allocation \d+ has been revoked"
    r"|slurmstepd: error: .*(Munge|authentication)",
    flags=re.I,
)


def parse_scontrol_jobs(text: str) -> list[dict[str, str]]:
    """`scontrol -o show job` output -> one dict per job (JobId, JobState, Reason, ...)."""
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in text.splitlines() if line.strip()]


def job_problem(
    job: dict[str, str], now: float | None, seen_pending: dict[str, float], limit_s: float
):
    """Why this job (a `scontrol -o show job` dict) keeps its run from finishing, or None.

    `now` is None while other jobs run: then a job waiting for resources is not timed.
    """
    job_id, state, reason = job.get("JobId", "?"), job.get("JobState", ""), job.get("Reason", "")
    if state in FAILED_STATES:
        return f"job {job_id} is {state} (reason {reason or 'None'})"
    if job.get("Restarts", "0") not in ("", "0"):
        return (
            f"job {job_id} was requeued {job['Restarts']} time(s) (state {state}, reason {reason})"
        )
    if state == "PENDING":
        if reason in NEVER_CLEARS or reason.startswith("ReqNodeNotAvail"):
            return (
                f"job {job_id} can never start: PENDING with Reason={reason}"
                f" (asks for {job.get('TRES') or job.get('ReqTRES', '?')}"
                f" in partition {job.get('Partition', '?')})"
            )
        if now is None:  # the cluster is busy: only pending while nothing runs counts
            return None
        first = seen_pending.setdefault(job_id, now)
        if now - first > limit_s:
            return f"job {job_id} has been PENDING for {now - first:.0f} s (Reason={reason})"
    return None


def node_problem(sinfo_rows: str) -> str | None:
    """`sinfo -h -N -o '%N|%t|%E'` rows -> why a node cannot run jobs, or None."""
    for row in sinfo_rows.splitlines():
        name, state, why = (row.split("|") + ["", "", ""])[:3]
        if state and BAD_NODE_STATES.search(state):
            return f"node {name} is {state} ({why or 'no reason given'})"
    return None


def broken_step(text: str) -> str | None:
    """The first line of a SLURM job log that shows a job step the cluster broke."""
    for line in text.splitlines():
        if BROKEN_STEP.search(line):
            return line.strip()
    return None


def daemons_down(state_dir: Path) -> str | None:
    """Which daemon start.sh recorded in `state_dir`/pids no longer runs, or None."""
    for name in ("munged", "slurmctld", "slurmd"):
        pidfile = state_dir / "pids" / f"{name}.pid"
        try:
            exe = os.readlink(f"/proc/{pidfile.read_text().strip()}/exe")
        except OSError:
            return f"{name} of the test cluster is not running ({pidfile})"
        if not Path(exe).name.startswith(name):
            return f"{name} of the test cluster is not running ({pidfile})"
    return None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"({err})"


@dataclass
class Watchdog:
    """Looks at one test cluster for the jobs submitted after it was created."""

    env: dict[str, str]
    state_dir: Path
    workdir: Path
    pending_limit_s: float = 600
    known: set[str] = field(default_factory=set)
    seen_pending: dict[str, float] = field(default_factory=dict)
    not_responding_since: float | None = None

    def __post_init__(self):
        self.known = self.known or {j.get("JobId", "") for j in self.jobs()}

    def _run(self, *cmd: str) -> str:
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=20, env={**os.environ, **self.env}
            )
        except subprocess.TimeoutExpired:
            return ""
        return proc.stdout

    def jobs(self) -> list[dict[str, str]]:
        text = self._run("scontrol", "-o", "show", "job")
        return [j for j in parse_scontrol_jobs(text) if "JobId" in j]

    def daemons_down(self) -> str | None:
        return daemons_down(self.state_dir)

    def check(self) -> str | None:
        """A message saying why the run cannot finish, or None while it still can."""
        if down := self.daemons_down():
            return down + self.logs()
        now = time.monotonic()
        jobs = self.jobs()
        new = [j for j in jobs if j["JobId"] not in self.known]
        if any(j.get("JobState") in ("RUNNING", "COMPLETING") for j in jobs):
            # Waiting for CPUs that running jobs hold is progress, not a hang.
            self.seen_pending.clear()
            now = None
        for job in new:
            if why := job_problem(job, now, self.seen_pending, self.pending_limit_s):
                return why + self.details(job)
        if why := node_problem(self._run("sinfo", "-h", "-N", "-o", "%N|%t|%E")):
            if not re.search(r"is \w+\* ", why) or re.search(r"down|drain|fail", why.split("(")[0]):
                return why + self.logs()
            self.not_responding_since = self.not_responding_since or time.monotonic()
            if time.monotonic() - self.not_responding_since > NOT_RESPONDING_GRACE_S:
                return why + self.logs()
        else:
            self.not_responding_since = None
        for log in (self.workdir / ".snakemake" / "slurm_logs").rglob("*.log"):
            if log.stem not in self.known and (line := broken_step(_tail(log, 200))):
                job = next((j for j in new if j["JobId"] == log.stem), {"JobId": log.stem})
                return f"job {log.stem}: {line}" + self.details(job)
        return None

    def cancel_leftovers(self, settle_s: float = 20) -> list[str]:
        """Cancel this run's jobs still queued after the run stopped; return their ids.

        Snakemake cancels its jobs on SIGINT, but only those it has recorded: a job whose
        `sbatch` returned while the signal arrived is in the queue without Snakemake
        knowing its id (seen on a loaded machine). Left there, it would hold the
        partition for every later test.
        """
        deadline = time.monotonic() + settle_s
        while True:
            left = [
                j["JobId"]
                for j in self.jobs()
                if j["JobId"] not in self.known
                and j.get("JobState") in ("PENDING", "RUNNING", "CONFIGURING", "SUSPENDED")
            ]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(1)
        if left:
            self._run("scancel", *left)
        return left

    def details(self, job: dict[str, str]) -> str:
        job_id = job.get("JobId", "?")
        text = f"\n--- scontrol show job {job_id}\n"
        text += self._run("scontrol", "show", "job", job_id) or "(gone)"
        for log in (self.workdir / ".snakemake" / "slurm_logs").rglob(f"{job_id}.log"):
            text += f"\n--- {log}\n{_tail(log)}"
        return text + self.logs()

    def logs(self) -> str:
        return "".join(
            f"\n--- {self.state_dir / 'log' / name} (tail)\n{_tail(self.state_dir / 'log' / name)}"
            for name in ("slurmctld.log", "slurmd.log")
        )


def wait_watched(
    proc: subprocess.Popen, watchdog: Watchdog, limit_s: float, poll_s: float = 2
) -> tuple[int, str | None]:
    """Wait for `proc` (a Snakemake run), at most `limit_s`; stop it when the watchdog objects.

    Returns (returncode, problem): problem is the watchdog's message, or a note that the
    time limit ran out, or None when the run ended by itself. A stopped run gets SIGINT
    (Snakemake then cancels its SLURM jobs), then SIGKILL after 60 s; a job of the run
    still queued after that is cancelled here, so a stopped run leaves the cluster empty.
    """
    deadline = time.monotonic() + limit_s
    problem = None
    while proc.poll() is None:
        if time.monotonic() > deadline:
            problem = f"the run did not finish in {limit_s:.0f} s" + watchdog.logs()
        else:
            problem = watchdog.check()
        if problem:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            if left := watchdog.cancel_leftovers():
                problem += f"\n(jobs {', '.join(left)} were still queued after the stop: cancelled)"
            break
        time.sleep(poll_s)
    return proc.returncode, problem

"""Shared fixtures: one tiny-config run of the real Snakemake DAG, reused by workflow tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "config" / "tiny.yaml"


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line that runs the repo's Snakefile in `workdir`."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        *args,
    ]


def snakemake_env() -> dict[str, str]:
    """This process's environment, offline for the hub (Snakemake's jobs inherit it)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1800):
    """Run the repo's Snakefile in `workdir`; return the CompletedProcess (stdout+stderr).

    On timeout Snakemake gets SIGINT (it stops its jobs and releases the directory lock)
    and the test fails saying so; a SIGKILL would leave a lock that fails every later
    test on this workdir with a LockException.
    """
    with subprocess.Popen(
        snakemake_command(workdir, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=snakemake_env(),
        start_new_session=True,
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGINT)
            try:
                stdout, stderr = child.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                stdout, stderr = child.communicate()
            raise AssertionError(
                f"snakemake {' '.join(args)} did not finish in {timeout} s:\n"
                f"{(stdout + stderr)[-6000:]}"
            ) from None
    proc = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    proc.output = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.output[-6000:]}")
    return proc


def planned_jobs(dry_run_output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) for every job a `snakemake -n` run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", "\n" + dry_run_output):
        m = re.match(r"\s*(?:local)?rule (\w+):", block)
        if not m:
            continue
        wc = re.search(r"^\s+wildcards: (.+)$", block, flags=re.M)
        wildcards = dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {}
        jobs.append((m.group(1), wildcards))
    return jobs


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    return yaml.safe_load(TINY_CONFIG.read_text())


# Stage fixture -> the Snakemake target it needs. Each test module checks its own stage.
STAGE_TARGETS = {
    "tiny_tokenizers": "tokenizers",
    "tiny_trained": "train",
    "tiny_attention": "attention",
    "tiny_evaluate": "evaluate",
    "tiny_report": "report",
}
TINY_RUN_LIMIT_S = 5400  # for a loaded machine (idle: ~5 min); a hung run still ends


def _tiny_targets(item) -> set[str]:
    """The tiny-run stage targets a test reads (empty: it does not read the run)."""
    return {STAGE_TARGETS[n] for n in getattr(item, "fixturenames", ()) if n in STAGE_TARGETS}


class BackgroundRun:
    """The session's one run of the tiny DAG, started before the first test.

    The DAG is most of the suite's CPU time but keeps two cores busy only part of the
    time (one training job at the end of the stage, one report job); run beside the
    rest of the suite it fills the gaps, and the tests that read it run last and wait.
    Output goes to files, not pipes, so a long log cannot block the run.
    """

    def __init__(self, workdir: Path, targets: list[str]):
        self.workdir, self.targets = workdir, targets
        self.log = workdir.parent / f"{workdir.name}.snakemake.log"
        # Targets first: --configfile takes every following word as a config file.
        args = [*targets, "--configfile", str(workdir / "config.yaml"), "--cores", "2"]
        with self.log.open("w") as log:
            self.child = subprocess.Popen(
                snakemake_command(workdir, *args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=snakemake_env(),
                start_new_session=True,
            )
        self.deadline = time.monotonic() + TINY_RUN_LIMIT_S

    def stop(self) -> None:
        """SIGINT (Snakemake stops its jobs and releases its lock), then SIGKILL."""
        if self.child.poll() is not None:
            return
        os.killpg(self.child.pid, signal.SIGINT)
        try:
            self.child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.child.pid, signal.SIGKILL)
            self.child.wait()

    def result(self) -> Path:
        """Wait for the run; return the workdir, or fail with the end of its log."""
        try:
            self.child.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"snakemake {' '.join(self.targets)} did not finish in {TINY_RUN_LIMIT_S} s:\n"
                f"{self.log.read_text()[-6000:]}"
            ) from None
        if self.child.returncode != 0:
            raise AssertionError(
                f"snakemake {' '.join(self.targets)} failed "
                f"(exit {self.child.returncode}, log {self.log}):\n{self.log.read_text()[-6000:]}"
            )
        return self.workdir


TINY_RUN = pytest.StashKey[BackgroundRun]()


def pytest_collection_modifyitems(session, config, items):
    """Run the tests that read the tiny run last, so the rest of the suite overlaps it."""
    items[:] = [i for i in items if not _tiny_targets(i)] + [i for i in items if _tiny_targets(i)]


def pytest_collection_finish(session):
    """Start the tiny run now (in the background) if any selected test reads it."""
    config = session.config
    needed = set().union(*(_tiny_targets(i) for i in session.items))
    if config.option.collectonly or not needed:
        return
    # Selecting only the tokenizer tests runs only the tokenizer stage.
    targets = [t for t in STAGE_TARGETS.values() if t in needed]
    # The session's tmp_path_factory (the fixture returns this same object).
    workdir = config._tmp_path_factory.mktemp("tiny")
    shutil.copy(TINY_CONFIG, workdir / "config.yaml")
    run = BackgroundRun(workdir, targets)
    config.stash[TINY_RUN] = run
    config.add_cleanup(run.stop)  # an interrupted session leaves no DAG running


@pytest.fixture(scope="session")
def tiny_results(request) -> Path:
    """The workdir of the session's one tiny-DAG run, every stage the tests need done.

    One `snakemake` call for all stages, not one per test module: the scheduler keeps
    both cores busy across stages (evaluation jobs run beside attention dumps), and the
    DAG is built once. It starts when collection ends (pytest_collection_finish).
    """
    run = request.config.stash.get(TINY_RUN, None)
    assert run is not None, "the tiny run was not started: no selected test reads it"
    return run.result()


@pytest.fixture(scope="session")
def tiny_tokenizers(tiny_results) -> Path:
    """The workdir after the session's run, corpus and tokenizer stages included."""
    return tiny_results


@pytest.fixture(scope="session")
def tiny_trained(tiny_results) -> Path:
    """The workdir after the session's run, training stage included."""
    return tiny_results


@pytest.fixture(scope="session")
def tiny_attention(tiny_results) -> Path:
    """The workdir after the session's run, attention stage (dumps, analyses) included."""
    return tiny_results


@pytest.fixture(scope="session")
def tiny_evaluate(tiny_results) -> Path:
    """The workdir after the session's run, evaluation stage included."""
    return tiny_results


@pytest.fixture(scope="session")
def tiny_report(tiny_results) -> Path:
    """The workdir after the session's run, report stage (every stage before it) included."""
    return tiny_results

"""Shared fixtures: one tiny-config run of the real Snakemake DAG, reused by workflow tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "config" / "tiny.yaml"


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1800):
    """Run the repo's Snakefile in `workdir`; return the CompletedProcess (stdout+stderr).

    On timeout Snakemake gets SIGINT (it stops its jobs and releases the directory lock)
    and the test fails saying so; a SIGKILL would leave a lock that fails every later
    test on this workdir with a LockException.
    """
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
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


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory) -> Path:
    """A working directory holding a copy of config/tiny.yaml; stages are run on demand."""
    workdir = tmp_path_factory.mktemp("tiny")
    shutil.copy(TINY_CONFIG, workdir / "config.yaml")
    return workdir


# Stage fixture -> the Snakemake target it needs. Each test module checks its own stage.
STAGE_TARGETS = {
    "tiny_tokenizers": "tokenizers",
    "tiny_trained": "train",
    "tiny_attention": "attention",
    "tiny_evaluate": "evaluate",
    "tiny_report": "report",
}


@pytest.fixture(scope="session")
def tiny_results(request, tiny_workdir) -> Path:
    """Run, once per session, every stage the selected tests need; return the workdir.

    One `snakemake` call for all of them, not one per test module: the scheduler keeps
    both cores busy across stages (evaluation jobs run beside attention dumps), and the
    DAG is built once. Selecting only the tokenizer tests runs only the tokenizer stage.
    """
    needed = {
        target
        for item in request.session.items
        for name, target in STAGE_TARGETS.items()
        if name in getattr(item, "fixturenames", ())
    }
    targets = [t for t in STAGE_TARGETS.values() if t in needed] or ["tokenizers"]
    config = str(tiny_workdir / "config.yaml")  # absolute: snakemake reads it from its cwd
    # Targets first: --configfile takes every following word as a config file.
    # The bound is for a loaded machine (idle: ~10 min); a hung run still ends.
    run_snakemake(tiny_workdir, *targets, "--configfile", config, "--cores", "2", timeout=5400)
    return tiny_workdir


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

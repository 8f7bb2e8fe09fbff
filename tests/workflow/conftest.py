"""Shared fixtures: one tiny-config run of the real Snakemake DAG, reused by workflow tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "config" / "tiny.yaml"


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1800):
    """Run the repo's Snakefile in `workdir`; return the CompletedProcess (stdout+stderr)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
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


@pytest.fixture(scope="session")
def tiny_tokenizers(tiny_workdir) -> Path:
    """Run `snakemake tokenizers` on the tiny config once per session; return the workdir."""
    run_snakemake(
        tiny_workdir,
        "--configfile",
        str(tiny_workdir / "config.yaml"),
        "--cores",
        "2",
        "tokenizers",
    )
    return tiny_workdir

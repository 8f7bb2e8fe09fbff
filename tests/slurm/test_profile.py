"""profiles/slurm without a cluster: what the profile puts into each job's resources."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import HERE, REPO


def planned_resources(tmp_path, **env: str) -> list[dict[str, str]]:
    """The resources of every job of the probe workflow in a dry run through profiles/slurm,
    in this environment without its TOKATTN_SLURM_* variables, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOKATTN_SLURM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(HERE / "probe" / "Snakefile")]
        + ["-d", str(tmp_path), "--profile", str(REPO / "profiles" / "slurm")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = re.findall(r"^\s+resources: (.+)$", proc.stdout + proc.stderr, flags=re.M)
    assert lines, proc.stdout
    return [dict(re.findall(r"(\w+)=([^,]*)", line)) for line in lines]


@pytest.mark.parametrize("account", ["", None])
def test_no_account_key_when_the_account_is_empty_or_unset(tmp_path, account):
    """An empty slurm_account would reach the plugin as an account ('' -> `-A ''` checks);
    unset or empty, the profile leaves the key (and the partition's) out."""
    env = {} if account is None else {"TOKATTN_SLURM_ACCOUNT": "", "TOKATTN_SLURM_PARTITION": ""}
    jobs = planned_resources(tmp_path, **env)
    for res in jobs:
        assert "slurm_account" not in res and "slurm_partition" not in res, res


def test_account_and_partitions_from_the_environment(tmp_path):
    jobs = planned_resources(
        tmp_path,
        TOKATTN_SLURM_ACCOUNT="proj",
        TOKATTN_SLURM_PARTITION="cpu",
        TOKATTN_SLURM_GPU_PARTITION="gpu",
    )
    assert all(res["slurm_account"] == "proj" for res in jobs), jobs
    # The probe's train_model is a GPU rule (gpu=2): the GPU partition; `all` is not.
    assert {res["slurm_partition"] for res in jobs} == {"gpu", "cpu"}, jobs

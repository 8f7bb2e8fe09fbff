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


def _plan_jobs_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("plan_jobs", REPO / "tools" / "plan_jobs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["plan_jobs"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_slurm_limits_are_parsed():
    plan = _plan_jobs_module()
    assert plan._slurm_minutes("2-00:00:00") == 2880
    assert plan._slurm_minutes("1:30:00") == 90
    assert plan._slurm_minutes("30:00") == 30
    assert plan._slurm_minutes("60") == 60
    assert plan._slurm_minutes("UNLIMITED") is None
    assert plan._gres_gpus("gpu:4") == 4
    assert plan._gres_gpus("gpu:a100:4(S:0-1)") == 4
    assert plan._gres_gpus("gpu:a100:2,gpu:v100:2") == 4
    assert plan._gres_gpus("(null)") == 0


def test_plan_check_against_a_partition_file(tmp_path, capsys, monkeypatch):
    """Without a cluster: the plugin's partition file says `small` offers 2 CPUs; the
    profile's analysis groups of four (4 CPUs) are named as never schedulable, and
    --fit-groups gives the size that fits."""
    plan = _plan_jobs_module()
    parts = tmp_path / "partitions.yaml"
    parts.write_text(
        "partitions:\n"
        "  small: {max_threads: 2, max_mem_mb: 4000, max_runtime: 60}\n"
        "  big: {max_threads: 64, max_mem_mb: 250000, max_gpu: 4}\n"
    )
    (tmp_path / "probe.yaml").write_text("heads: 4\n")
    args = ["-s", str(HERE / "probe" / "Snakefile"), "--profile", str(REPO / "profiles" / "slurm")]
    args += ["--configfile", str(tmp_path / "probe.yaml"), "--partitions", str(parts)]
    monkeypatch.setenv("TOKATTN_SLURM_PARTITION", "small")
    assert plan.main([*args, "-d", str(tmp_path / "a"), "--check", "analysis"]) == 3
    err = capsys.readouterr().err
    assert "group analysis (4 x analyze_heads) asks for 4 CPUs, 2000 MB" in err, err
    assert "partition small: never schedulable" in err and "4 CPUs > 2" in err, err
    assert "--group-components analysis=2" in err, err
    assert plan.main([*args, "-d", str(tmp_path / "b"), "--fit-groups", "analysis"]) == 0
    assert capsys.readouterr().out.split() == ["--group-components", "analysis=2"]
    # A job too large even alone: no group size helps.
    parts.write_text("partitions:\n  small: {max_threads: 2, max_mem_mb: 300}\n")
    assert plan.main([*args, "-d", str(tmp_path / "c"), "--fit-groups", "analysis"]) == 3
    err = capsys.readouterr().err
    assert "fit no partition even alone" in err and "500 MB > 300" in err, err

"""The tiny config on a real single-node SLURM cluster, submitted through profiles/slurm.

The session fixture starts a private cluster with tests/slurm/start.sh (or uses the one
TOKATTN_SLURM_DIR names, as .ci/run exports it); every run is watched (watch.py), so a
job that cannot run fails the test at once with SLURM's reason. The tests check that every output of the run exists and is valid,
that each job really was a SLURM job (partition, GPUs, log), that a job cancelled with
`scancel` mid-run is retried to completion, and that a job asking for gpu=N gets one
node with N GPUs and runs N torchrun processes there; and that analysis group jobs are
sized to a 2-CPU partition (tools/plan_jobs.py), or refused at once when they do not fit.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import (
    HERE,
    REPO,
    SlurmCluster,
    snakemake_slurm_cmd,
    snakemake_slurm_env,
    submitted_jobs,
)
from .watch import wait_watched

pytestmark = pytest.mark.slurm

TINY_CONFIG = REPO / "config" / "tiny.yaml"
RUN_LIMIT_S = 1800  # a whole tiny run on 2 shared cores; the timeout sends SIGINT
TRAIN_GPUS = 2  # fake GPUs per training job (the test node has 4)
# Rules the profile sends to the GPU partition (TOKATTN_SLURM_GPU_PARTITION=gpu here).
GPU_RULES = set(
    yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())["set-resources"]
)


def _has_rule(name: str) -> bool:
    pattern = re.compile(rf"^rule {name}:", flags=re.M)
    return any(pattern.search(p.read_text()) for p in (REPO / "rules").glob("*.smk"))


# The stages that exist: training joins once its `train` target rule is in rules/.
TARGETS = ["tokenizers", *(["train"] if _has_rule("train") else [])]


@dataclass
class SlurmRun:
    workdir: Path
    output: str
    seconds: float
    returncode: int
    problem: str | None = None


def run_through_slurm(
    cluster: SlurmCluster,
    workdir: Path,
    *args: str,
    limit_s: int = RUN_LIMIT_S,
    env: dict[str, str] | None = None,
    expect_problem: bool = False,
    **cmd_kw,
) -> SlurmRun:
    """Run the workflow through the SLURM profile; output is stdout + stderr.

    Watched (tests/slurm/watch.py): a job that can never start, a node failure or a
    broken job step stops the run at once, and the test fails with SLURM's reason and
    logs instead of waiting out `limit_s` (with `expect_problem`, the run returns it).
    `env` adds to the run's environment (e.g. another TOKATTN_SLURM_PARTITION).
    """
    log_path = workdir / f"snakemake-{time.time_ns()}.out"
    watchdog = cluster.watchdog(workdir)
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            snakemake_slurm_cmd(workdir, *args, limit_s=limit_s, **cmd_kw),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**snakemake_slurm_env(cluster), **(env or {})},
        )
        returncode, problem = wait_watched(proc, watchdog, limit_s + 60)
    output = log_path.read_text()
    if problem and not expect_problem:
        pytest.fail(
            f"SLURM run stopped: {problem}\n--- snakemake output (tail)\n{output[-4000:]}",
            pytrace=False,
        )
    return SlurmRun(workdir, output, time.monotonic() - t0, returncode, problem)


def summary(workdir: Path, configfile: Path, *targets: str) -> pd.DataFrame:
    """`snakemake --summary`: one row per output file of the DAG, with rule and status."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
        + ["--configfile", str(configfile), "--summary", *targets],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    header = proc.stdout.index("output_file\t")
    rows = [line.split("\t") for line in proc.stdout[header:].splitlines() if line.strip()]
    return pd.DataFrame(rows[1:], columns=rows[0])


def check_output_file(path: Path) -> None:
    """Fail unless `path` exists, is non-empty and parses as its type says."""
    assert path.exists(), f"missing output {path}"
    if path.is_dir():
        assert any(path.iterdir()), f"empty output directory {path}"
        return
    assert path.stat().st_size > 0, f"empty output {path}"
    if path.name == "tokenizer.json":
        from tokenizers import Tokenizer

        assert Tokenizer.from_file(str(path)).get_vocab_size() > 0, path
    elif path.suffix == ".json":
        assert json.loads(path.read_text()), f"empty JSON {path}"
    elif path.suffix == ".parquet":
        assert len(pd.read_parquet(path)) > 0, f"no rows in {path}"
    elif path.suffix == ".csv":
        assert len(pd.read_csv(path)) > 0, f"no rows in {path}"
    elif path.suffix in {".h5", ".hdf5"}:
        import h5py

        with h5py.File(path, "r") as fh:
            assert len(fh.keys()) > 0, f"empty HDF5 {path}"


@pytest.fixture(scope="module")
def tiny_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    """The tiny config, targets `tokenizers` (+ `train`), through profiles/slurm.

    Three changes to config/tiny.yaml. Its first two arms and three tokenizers. One seed
    instead of its list: every rule, tokenizer
    and model arm still runs as a SLURM job, in half the time (tests/workflow/ covers
    seeds). And each training job asks for TRAIN_GPUS of the node's fake GPUs, so the
    real train rule runs as a multi-GPU job: one task holding 2 GPUs, in which the
    training script starts 2 torchrun ranks (gloo on the CPU: tiny trains with
    `device: cpu`); the micro-batch halves so the batch still divides over the ranks.
    """
    workdir = tmp_path_factory.mktemp("slurm-tiny")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["seeds"] = config.get("seeds", [0])[:1]
    # Two arms and the tokenizers they use plus one more: every rule still runs as a job
    # (tokenizer jobs still form a group), in a fraction of the time of all six.
    config["models"] = config.get("models", [])[:2]
    used = {arm["tokenizer"] for arm in config["models"]}
    kept = [tok for tok in config["tokenizers"] if tok["name"] in used]
    spare = [tok for tok in config["tokenizers"] if tok["name"] not in used][:1]
    config["tokenizers"] = kept + spare
    if config.get("models"):
        config.setdefault("resources", {}).setdefault("train", {})["gpu"] = TRAIN_GPUS
        training = config["training"]
        training["micro_batch_size"] = max(1, training["batch_size"] // TRAIN_GPUS)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # Targets first: --configfile takes several values and would swallow them.
    run = run_through_slurm(
        slurm_cluster, workdir, *TARGETS, "--configfile", str(workdir / "config.yaml")
    )
    print(f"\ntiny run through SLURM ({' '.join(TARGETS)}): {run.seconds:.0f} s")
    assert run.returncode == 0, f"snakemake failed ({run.returncode}):\n{run.output[-8000:]}"
    return run


def test_every_output_exists_and_is_valid(tiny_run):
    table = summary(tiny_run.workdir, tiny_run.workdir / "config.yaml", *TARGETS)
    assert len(table) > 0
    not_ok = table[(table["status"] != "ok") | (table["plan"] != "no update")]
    assert not_ok.empty, f"outputs not up to date after the run:\n{not_ok.to_string()}"
    for rel in table["output_file"]:
        check_output_file(tiny_run.workdir / rel)
    produced = set(table["rule"])
    assert {"prepare_corpus", "train_tokenizer", "tokenizer_metrics"} <= produced
    if "train" in TARGETS:
        assert "train_model" in produced


def test_every_job_ran_in_slurm(tiny_run, slurm_cluster: SlurmCluster):
    submitted = submitted_jobs(tiny_run.output)
    assert submitted, f"no SLURM submissions in the output:\n{tiny_run.output[-4000:]}"
    jobs = {job["id"]: job for job in slurm_cluster.jobs()}
    for job_id, log_dir in submitted.items():
        job = jobs[job_id]
        assert job["state"] == "COMPLETED", job
        # The plugin's per-job log (kept by the test profile) names the SLURM job id.
        logs = list((tiny_run.workdir / ".snakemake" / "slurm_logs" / log_dir).rglob("*.log"))
        assert any(p.stem == job_id for p in logs), (job_id, logs)
        gpu_job = job["comment"].removeprefix("rule_").split("_wildcards")[0] in GPU_RULES
        assert job["partition"] == ("gpu" if gpu_job else "cpu"), job
    # Every rule that writes files had a job in SLURM, alone or in its group's job (the
    # plugin's job comment names the rule, or the group and all its rules).
    table = summary(tiny_run.workdir, tiny_run.workdir / "config.yaml", *TARGETS)
    comments = " ".join(jobs[j]["comment"] for j in submitted)
    log_dirs = set(submitted.values())
    for rule in set(table["rule"]):
        assert rule in comments, f"rule {rule} never went through SLURM: {comments}"
    # The grouped tokenizer jobs: one SLURM job trains a tokenizer and scores it.
    assert any(d.startswith("group_tokenizer") for d in log_dirs), log_dirs


@pytest.mark.skipif("train" not in TARGETS, reason="no `train` rule in rules/ yet")
def test_training_jobs_get_the_gpu_partition_and_their_gpus(tiny_run, slurm_cluster):
    config = yaml.safe_load((tiny_run.workdir / "config.yaml").read_text())
    gpus = (config.get("resources") or {}).get("train", {}).get("gpu", 0)
    submitted = submitted_jobs(tiny_run.output)
    train_ids = [j for j, d in submitted.items() if d == "rule_train_model"]
    assert len(train_ids) == len(config["models"]) * len(config["seeds"]), submitted
    for job_id in train_ids:
        detail = slurm_cluster.job_detail(job_id)
        assert detail["Partition"] == "gpu", detail
        assert detail["NumNodes"] == "1" and detail["NumTasks"] == "1", detail
        if gpus:
            assert detail["TresPerJob"].endswith(f"gpu:{gpus}"), detail
    # Each model was trained by `gpus` torchrun ranks inside its one allocation.
    for arm in config["models"]:
        for seed in config["seeds"]:
            folder = tiny_run.workdir / "results" / "tiny" / "models" / arm["name"] / f"seed{seed}"
            trained = json.loads((folder / "train_summary.json").read_text())
            assert trained["world_size"] == max(1, gpus), (arm["name"], trained)


def test_cancelled_job_is_retried(tiny_run, slurm_cluster: SlurmCluster):
    """scancel one job while it runs: Snakemake resubmits it and the run completes."""
    workdir = tiny_run.workdir
    # Redo one tokenizer that no model reads (so the models stay up to date): its grouped
    # train+metrics job (several seconds) is the one to cancel.
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    used = {arm["tokenizer"] for arm in config.get("models") or []}
    names = [t["name"] for t in config["tokenizers"]]
    victim = (
        workdir
        / "results"
        / "tiny"
        / "tokenizers"
        / next((n for n in names if n not in used), names[0])
    )
    shutil.rmtree(victim)
    known = {job["id"] for job in slurm_cluster.jobs()}
    watchdog = slurm_cluster.watchdog(workdir)
    log_path = workdir / "fault-run.out"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            snakemake_slurm_cmd(
                workdir, "tokenizers", "--configfile", str(workdir / "config.yaml"), limit_s=900
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=snakemake_slurm_env(slurm_cluster),
        )
        cancelled = None
        try:
            deadline = time.monotonic() + 600
            while cancelled is None and time.monotonic() < deadline and proc.poll() is None:
                if problem := watchdog.check():
                    break
                running = [
                    j
                    for j in slurm_cluster.jobs()
                    if j["id"] not in known and j["state"] == "RUNNING"
                ]
                if running:
                    cancelled = running[0]
                    slurm_cluster.run("scancel", cancelled["id"])
                time.sleep(0.2)
            returncode, problem = wait_watched(proc, watchdog, 960)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert not problem, f"SLURM run stopped: {problem}\n{log_path.read_text()[-4000:]}"
    output = log_path.read_text()
    assert cancelled is not None, f"no job of the rerun was seen running:\n{output[-4000:]}"
    assert returncode == 0, f"the run did not recover from scancel:\n{output[-8000:]}"
    states = {j["id"]: j["state"] for j in slurm_cluster.jobs()}
    assert states[cancelled["id"]] == "CANCELLED", states
    assert "Trying to restart job" in output, output[-4000:]
    resubmitted = [
        j
        for j in slurm_cluster.jobs()
        if j["id"] not in known
        and j["comment"] == cancelled["comment"]
        and j["id"] != cancelled["id"]
    ]
    assert resubmitted and all(j["state"] == "COMPLETED" for j in resubmitted), resubmitted
    table = summary(workdir, workdir / "config.yaml", "tokenizers")
    assert (table["status"] == "ok").all(), table.to_string()
    for rel in table["output_file"]:
        check_output_file(workdir / rel)
    assert (victim / "tokenizer.json").exists() and (victim / "metrics.json").exists()


def test_multi_gpu_job_runs_torchrun_in_one_allocation(slurm_cluster, tmp_path):
    """A rule asking for gpu=2 gets 1 node, 1 task, 2 GPUs; torchrun starts 2 ranks there."""
    pytest.importorskip("torch.distributed")
    run = run_through_slurm(
        slurm_cluster,
        tmp_path,
        "--config",
        "gpu=2",
        "threads=2",
        limit_s=600,
        snakefile=HERE / "probe" / "Snakefile",
    )
    assert run.returncode == 0, run.output[-6000:]
    seen = json.loads((tmp_path / "probe" / "train_model.json").read_text())
    assert seen["world_size"] == 2 and seen["rank_sum"] == 1, seen
    assert seen["SLURM_JOB_PARTITION"] == "gpu", seen
    assert seen["SLURM_GPUS_ON_NODE"] == "2" and seen["SLURM_NNODES"] == "1", seen
    assert seen["SLURM_CPUS_PER_TASK"] == "2", seen
    detail = slurm_cluster.job_detail(seen["SLURM_JOB_ID"])
    assert detail["TresPerJob"].endswith("gpu:2") and detail["NumTasks"] == "1", detail


def plan_jobs(cluster: SlurmCluster, tmp_path: Path, *args: str, **env: str):
    """tools/plan_jobs.py on the probe workflow (target `analysis`), against this cluster."""
    (tmp_path / "probe.yaml").write_text("heads: 4\n")
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "plan_jobs.py"),
            "-s",
            str(HERE / "probe" / "Snakefile"),
        ]
        + ["--profile", str(REPO / "profiles" / "slurm"), "-d", str(tmp_path / "plan")]
        + ["--configfile", str(tmp_path / "probe.yaml"), *args, "analysis"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**snakemake_slurm_env(cluster), **env},
        check=False,
    )


def test_group_jobs_are_sized_to_fit_a_2_cpu_partition(slurm_cluster, tmp_path):
    """The profile packs head analyses four to a job (4 CPUs); partition `small` offers 2
    CPUs per job. plan_jobs --fit-groups reads that from the cluster and halves the
    groups; the run then completes in two jobs of 2 CPUs each."""
    small = {"TOKATTN_SLURM_PARTITION": "small"}
    fit = plan_jobs(slurm_cluster, tmp_path, "--fit-groups", **small)
    assert fit.returncode == 0, fit.stderr
    assert fit.stdout.split() == ["--group-components", "analysis=2"], fit.stdout
    run = run_through_slurm(
        slurm_cluster,
        tmp_path,
        "analysis",
        *fit.stdout.split(),
        "--config",
        "heads=4",
        limit_s=600,
        env=small,
        snakefile=HERE / "probe" / "Snakefile",
    )
    assert run.returncode == 0, run.output[-6000:]
    seen = [(tmp_path / "probe" / "heads" / f"{i}.txt").read_text().split() for i in range(4)]
    jobs = {job_id for job_id, _ in seen}
    assert len(jobs) == 2, seen
    for job_id in jobs:
        detail = slurm_cluster.job_detail(job_id)
        assert detail["Partition"] == "small" and detail["JobState"] == "COMPLETED", detail
        assert detail["NumCPUs"] == "2", detail


def test_a_group_job_that_can_never_start_fails_fast_naming_the_reason(slurm_cluster, tmp_path):
    """Groups of four (4 CPUs) in the 2-CPU partition: plan_jobs --check says so before
    submitting (exit 3); submitted anyway, the run stops within a minute with SLURM's
    reason instead of waiting for ever."""
    small = {"TOKATTN_SLURM_PARTITION": "small"}
    check = plan_jobs(slurm_cluster, tmp_path, "--check", **small)
    assert check.returncode == 3, check.stdout + check.stderr
    assert "group analysis (4 x analyze_heads) asks for 4 CPUs" in check.stderr, check.stderr
    assert "partition small: never schedulable" in check.stderr, check.stderr
    assert "4 CPUs > 2" in check.stderr and "--group-components analysis=2" in check.stderr
    run = run_through_slurm(
        slurm_cluster,
        tmp_path,
        "analysis",
        "--config",
        "heads=4",
        limit_s=600,
        env=small,
        expect_problem=True,
        snakefile=HERE / "probe" / "Snakefile",
    )
    assert run.problem, run.output[-4000:]
    assert "can never start: PENDING with Reason=PartitionConfig" in run.problem, run.problem
    assert "cpu=4" in run.problem and "partition small" in run.problem, run.problem
    assert run.seconds < 120, run.seconds
    assert not slurm_cluster.run("squeue", "-h", "-t", "PENDING,RUNNING", "-o", "%i").strip()

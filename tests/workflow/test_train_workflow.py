"""The real DAG on the tiny config: pre-tokenization and training, outputs, reruns, resume."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from .conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


def _runs(config):
    return [(m["name"], seed) for m in config["models"] for seed in config["seeds"]]


def _arm(config, name):
    return next(m for m in config["models"] if m["name"] == name)


def _branch_arms(config):
    names = [m["name"] for m in config["models"] if m.get("byte_branch")]
    assert names, "the tiny config has no byte-branch arm"
    return names


def test_every_arm_and_seed_is_trained_on_the_same_bytes(tiny_trained, tiny_config):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    results = tiny_trained / "results" / "tiny"
    budget = tiny_config["training"]["budget_bytes"]
    summaries = {}
    for name, seed in _runs(tiny_config):
        folder = results / "models" / name / f"seed{seed}"
        summary = json.loads((folder / "train_summary.json").read_text())
        log = pd.read_csv(folder / "train_log.csv")
        assert summary["seed"] == seed and summary["model"] == name
        assert budget <= summary["bytes_seen"] == log["bytes"].iloc[-1]
        assert log["val_bpb"].notna().sum() >= 2
        assert (results / "checkpoints" / name / f"seed{seed}" / "last.pt").exists()
        assert (results / "logs" / "train_model" / name / f"seed{seed}.log").exists()
        assert (results / "benchmarks" / "train_model" / name / f"seed{seed}.tsv").exists()
        # A byte-branch arm carries its model code and reports the branch apart.
        has_branch = bool(_arm(tiny_config, name).get("byte_branch"))
        assert (summary["byte_branch_params"] > 0) == has_branch
        assert (folder / "modeling_byte_branch.py").is_file() == has_branch
        summaries[(name, seed)] = summary
    # Same bytes for every arm, within one training sequence (context_bytes of text).
    seen = [s["bytes_seen"] for s in summaries.values()]
    context_bytes = max(m["context_bytes"] for m in tiny_config["models"])
    assert max(seen) - min(seen) < 2 * context_bytes
    # Same shape for every arm: non-embedding parameters (main decoder) match exactly.
    assert len({s["params"]["non_embedding"] for s in summaries.values()}) == 1
    assert any(s["byte_branch_params"] for s in summaries.values())
    name, seed = _runs(tiny_config)[0]
    folder = results / "models" / name / f"seed{seed}"
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok("The for statement", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], model.config.vocab_size)
    # The byte-branch arm loads through the Auto classes once tokattn.training.byte_branch is imported.
    import tokattn.training.byte_branch  # noqa: F401

    for name in _branch_arms(tiny_config):
        folder = results / "models" / name / "seed0"
        model = AutoModelForCausalLM.from_pretrained(folder)
        assert type(model).__name__ == "ByteBranchForCausalLM"
        ids = AutoTokenizer.from_pretrained(folder)("The for statement", return_tensors="pt")
        out = model(input_ids=ids["input_ids"], output_attentions=False)
        assert out.logits.shape[:2] == ids["input_ids"].shape


def test_rerun_does_nothing(tiny_trained):
    config = str(tiny_trained / "config.yaml")
    proc = run_snakemake(tiny_trained, "--configfile", config, "-n", "train")
    assert planned_jobs(proc.output) == [], proc.output[-3000:]


def test_changing_one_arm_retrains_only_that_arm(tiny_trained):
    # From the workdir's own copy: config/tiny.yaml may have changed since it was made.
    cfg = yaml.safe_load((tiny_trained / "config.yaml").read_text())
    cfg["models"][1]["d_ff"] += 8
    cfg["models"].append(dict(cfg["models"][0], name="byte_wide", d_model=96, n_heads=4))
    branch = _branch_arms(cfg)[0]
    _arm(cfg, branch)["byte_branch"]["cross_window_bytes"] = 16  # a branch ablation
    changed = tiny_trained / "changed_arm.yaml"
    changed.write_text(yaml.safe_dump(cfg, sort_keys=False))  # key order is part of params
    proc = run_snakemake(tiny_trained, "--configfile", str(changed), "-n", "train")
    jobs = planned_jobs(proc.output)
    trained = {wc["model"] for rule, wc in jobs if rule == "train_model"}
    assert trained == {cfg["models"][1]["name"], "byte_wide", branch}, proc.output[-3000:]
    assert {rule for rule, _ in jobs} <= {"train_model", "train"}


def test_a_crashed_job_resumes_from_its_checkpoint(tiny_trained, tiny_config, tmp_path):
    # Work on a copy: the shared workdir stays as the other workflow tests expect it.
    work = tmp_path / "copy"
    shutil.copytree(tiny_trained, work, symlinks=True)
    name, seed = _runs(tiny_config)[-1]  # the byte-branch arm: resume is not Llama-only
    assert name in _branch_arms(tiny_config)
    folder = work / "results" / "tiny" / "models" / name / f"seed{seed}"
    before = json.loads((folder / "train_summary.json").read_text())
    shutil.rmtree(folder)  # what Snakemake leaves of a job that died before its export
    run_snakemake(work, "--configfile", str(work / "config.yaml"), "--cores", "2", "train")
    after = json.loads((folder / "train_summary.json").read_text())
    assert after["resumed_from_step"] == before["steps"]
    assert after["bytes_seen"] == before["bytes_seen"]
    assert after["final_val_loss"] == before["final_val_loss"]

"""The real DAG on the tiny config: target `evaluate` (items, four benchmarks, summary.csv)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import yaml

from .conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow

TASKS = ["lm", "inference", "memory", "summarization"]


def _runs(config):
    return [(arm["name"], seed) for arm in config["models"] for seed in config["seeds"]]


def test_every_run_has_every_task(tiny_evaluate, tiny_config):
    results = tiny_evaluate / "results" / "tiny" / "eval"
    for model, seed in _runs(tiny_config):
        for task in TASKS:
            summary = json.loads((results / f"{model}/seed{seed}/{task}.json").read_text())
            rows = (results / f"{model}/seed{seed}/{task}.jsonl").read_text().splitlines()
            assert summary["model"] == model and summary["seed"] == seed
            assert summary["n_items"] == len(rows) > 0
            assert summary["items_per_second"] > 0
        lm = json.loads((results / f"{model}/seed{seed}/lm.json").read_text())
        overall = next(
            m
            for m in lm["metrics"]
            if m["metric"] == "bits_per_byte" and m["language"] == "all" and m["domain"] == "all"
        )
        # Trained on this text: better than 8 bits per byte (uniform over bytes), above 0.
        assert 0 < overall["mean"] < 8, overall
        assert overall["ci_low"] <= overall["mean"] <= overall["ci_high"]
    # The byte-branch arm (no KV cache: full-sequence scoring) has every task too.
    branch = [arm["name"] for arm in tiny_config["models"] if arm.get("byte_branch")]
    assert branch
    for model in branch:
        for task in TASKS:
            summary = json.loads((results / f"{model}/seed0/{task}.json").read_text())
            assert summary["model"] == model and summary["n_items"] > 0
    # Every model is scored on the same items.
    items = {
        task: (results / f"items/{task}.jsonl").read_text().splitlines()
        for task in ("inference", "memory", "summarization")
    }
    for model, seed in _runs(tiny_config):
        for task, lines in items.items():
            ids = [
                json.loads(x)["id"]
                for x in (results / f"{model}/seed{seed}/{task}.jsonl").read_text().splitlines()
            ]
            assert ids == [json.loads(x)["id"] for x in lines]


def test_summary_csv(tiny_evaluate, tiny_config):
    table = pd.read_csv(tiny_evaluate / "results" / "tiny" / "eval" / "summary.csv", dtype=str)
    models = {arm["name"] for arm in tiny_config["models"]}
    assert set(table["model"]) == models
    assert set(table["task"]) == set(TASKS)
    overall = table[(table["language"] == "all") & (table["subtask"] == "all")]
    n_seeds = len(tiny_config["seeds"])
    assert (overall["n_seeds"].astype(int) == n_seeds).all()
    if n_seeds >= 2:
        assert (overall["ci_method"] == "t over seeds + item variance").all()
    memory = table[(table["task"] == "memory") & (table["metric"] == "ll_accuracy")]
    distances = {str(d) for d in tiny_config["evaluation"]["memory"]["distances_bytes"]}
    assert distances <= set(memory["distance_bytes"])
    bpb = table[(table["metric"] == "bits_per_byte") & (table["language"] != "all")]
    assert bpb["language"].nunique() >= 3
    for col in ("mean", "ci_low", "ci_high"):
        values = overall[col].astype(float)
        assert values.map(math.isfinite).all(), col


def test_rerun_does_nothing(tiny_evaluate):
    config = str(tiny_evaluate / "config.yaml")
    proc = run_snakemake(tiny_evaluate, "--configfile", config, "-n", "evaluate")
    assert planned_jobs(proc.output) == [], proc.output[-3000:]


def test_changing_one_task_reruns_only_that_task(tiny_evaluate, tiny_config):
    cfg = yaml.safe_load(yaml.safe_dump(tiny_config))
    cfg["evaluation"]["summarization"]["n_items"] += 1
    changed = tiny_evaluate / "changed_eval.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tiny_evaluate, "--configfile", str(changed), "-n", "evaluate")
    rules = {rule for rule, _ in planned_jobs(proc.output)}
    assert rules == {"eval_items", "eval_summarization", "eval_summary", "evaluate"}, rules


def test_training_mix(tiny_evaluate, tiny_config):
    config = str(tiny_evaluate / "config.yaml")
    run_snakemake(tiny_evaluate, "--configfile", config, "--cores", "2", "training_mix")
    mix = pd.read_parquet(tiny_evaluate / "results" / "tiny" / "eval" / "training_mix.parquet")
    stats = json.loads(
        (tiny_evaluate / "results" / "tiny" / "eval" / "training_mix.json").read_text()
    )
    share = tiny_config["evaluation"]["training_mix"]["share"]
    assert stats["mix_bytes"] == int(mix["n_bytes"].sum())
    assert stats["mix_bytes"] / (stats["mix_bytes"] + stats["corpus_train_bytes"]) >= share
    # No evaluation item appears in the mix.
    mix_text = "\n".join(mix["text"])
    for task in ("inference", "memory"):
        for line in (
            (tiny_evaluate / f"results/tiny/eval/items/{task}.jsonl").read_text().splitlines()
        ):
            assert json.loads(line)["context"] not in mix_text

"""Every task runner on a tiny model: per-item JSONL + summary JSON, written atomically."""

from __future__ import annotations

import json

import pytest

from tests.eval_corpus import corpus_docs, tiny_eval_config, write_corpus_parquet
from tokattn.evaluation.runners import RUNNERS, exact_match
from tokattn.evaluation.tasks.build import write_items


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_inputs")
    cfg = tiny_eval_config()
    cfg["bootstrap_samples"] = 100
    cfg["inference"] = {**cfg["inference"], "n_items": 2}
    cfg["memory"] = {**cfg["memory"], "n_items": 1, "distances_bytes": [16, 64]}
    cfg["summarization"] = {**cfg["summarization"], "n_items": 2}
    cfg["generation"] = {**cfg["generation"], "max_new_bytes": 12}
    test = write_corpus_parquet(root / "test.parquet", corpus_docs("test"))
    train = write_corpus_parquet(root / "train.parquet", corpus_docs("train"))
    paths = {"lm": test}
    for task in ("inference", "memory", "summarization"):
        paths[task] = root / f"{task}.jsonl"
        write_items(task, cfg, paths[task], test, train)
    return cfg, paths


@pytest.mark.parametrize("task", ["lm", "inference", "memory", "summarization"])
def test_runner_writes_items_and_summary(tmp_path, inputs, model_dirs, task):
    cfg, paths = inputs
    out_json, out_jsonl = tmp_path / f"{task}.json", tmp_path / f"{task}.jsonl"
    RUNNERS[task](
        model_dirs["bpe"], paths[task], cfg, out_json, out_jsonl, "bpe", seed=3, threads=1
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out_json.name, out_jsonl.name])
    summary = json.loads(out_json.read_text())
    rows = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    assert summary["task"] == task and summary["model"] == "bpe" and summary["seed"] == 3
    assert summary["n_items"] == len(rows) > 0 and summary["items_per_second"] > 0
    overall = [m for m in summary["metrics"] if m["language"] == "all" and m["subtask"] == "all"]
    assert overall
    for m in overall:
        assert m["ci_low"] <= m["mean"] <= m["ci_high"] or m["ci_low"] == m["ci_high"]
    names = {m["metric"] for m in summary["metrics"]}
    expected = {
        "lm": {"bits_per_byte", "token_perplexity"},
        "inference": {"accuracy", "accuracy_norm"},
        "memory": {"exact_match", "ll_accuracy"},
        "summarization": {"rouge1", "rouge2", "rougeL", "rougeLsum"},
    }[task]
    assert expected <= names
    if task == "lm":
        assert {m["language"] for m in summary["metrics"]} >= {"en", "de", "zh"}
        assert sum(r["n_bytes"] for r in rows) == sum(
            len(d.text.encode()) for d in corpus_docs("test")
        )
    if task == "memory":
        assert {m["distance_bytes"] for m in summary["metrics"]} == {"all", "16", "64"}
        assert all(
            len(r["generated"].encode()) <= summary["settings"]["max_new_bytes"] for r in rows
        )
    if task == "summarization":
        assert all(len(r["prediction"].encode()) <= 12 for r in rows)


def test_exact_match():
    assert exact_match(" 4821 and more", " 4821")
    assert exact_match("4821。", "4821")
    assert not exact_match(" 48215", " 4821")
    assert not exact_match(" 482", " 4821")

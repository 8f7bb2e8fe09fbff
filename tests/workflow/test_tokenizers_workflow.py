"""The real DAG on the tiny config: corpus and tokenizer stages, outputs and reruns."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from transformers import AutoTokenizer

from .conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


def test_corpus_outputs(tiny_tokenizers, tiny_config):
    corpus = tiny_tokenizers / "results" / "tiny" / "corpus"
    frames = {s: pd.read_parquet(corpus / f"{s}.parquet") for s in ("train", "val", "test")}
    for split, df in frames.items():
        assert len(df) > 0, split
        assert {"text", "source", "domain", "language"} <= set(df.columns)
    ids = [set(df["text"]) for df in frames.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    stats = json.loads((corpus / "stats.json").read_text())
    train = frames["train"]
    # stats.json agrees with an independent count over the parquet file.
    assert json.dumps(stats).count("train") >= 1
    total_bytes = int(train["text"].map(lambda t: len(t.encode("utf-8"))).sum())
    assert total_bytes in _all_ints(stats), "train byte total missing from stats.json"
    sources = {s["name"] for s in tiny_config["corpus"]["sources"]}
    assert set(train["source"]) == sources
    assert train["language"].nunique() >= 10
    assert train["domain"].nunique() >= 4


def _all_ints(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _all_ints(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _all_ints(v)
    elif isinstance(obj, int):
        yield obj


def test_tokenizer_outputs(tiny_tokenizers, tiny_config):
    test_text = pd.read_parquet(tiny_tokenizers / "results" / "tiny" / "corpus" / "test.parquet")[
        "text"
    ]
    sample = test_text.iloc[0]
    names = [t["name"] for t in tiny_config["tokenizers"]]
    kinds = {t["kind"] for t in tiny_config["tokenizers"]}
    assert kinds == {"byte", "char", "bpe", "bytelevel_bpe", "unigram", "wordpiece"}
    for name in names:
        folder = tiny_tokenizers / "results" / "tiny" / "tokenizers" / name
        tok = AutoTokenizer.from_pretrained(folder)
        enc = tok(sample, return_offsets_mapping=True, add_special_tokens=False)
        assert len(enc["input_ids"]) == len(enc["offset_mapping"]) > 0
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics, name
    table = pd.read_csv(tiny_tokenizers / "results" / "tiny" / "tokenizers" / "metrics.csv")
    assert set(table["tokenizer"]) == set(names)
    assert {"language", "domain", "bytes_per_token"} <= set(table.columns)
    for name in names:
        rows = table[table["tokenizer"] == name]
        assert rows["language"].nunique() >= 10
    logs = tiny_tokenizers / "results" / "tiny" / "logs"
    assert (logs / "prepare_corpus.log").exists()
    assert all((logs / "train_tokenizer" / f"{n}.log").exists() for n in names)
    assert (tiny_tokenizers / "results" / "tiny" / "benchmarks" / "prepare_corpus.tsv").exists()


def test_rerun_does_nothing(tiny_tokenizers):
    proc = run_snakemake(
        tiny_tokenizers, "--configfile", str(tiny_tokenizers / "config.yaml"), "-n", "tokenizers"
    )
    assert planned_jobs(proc.output) == [], proc.output[-3000:]


def test_changing_one_vocab_size_reruns_only_that_tokenizer(tiny_tokenizers, tiny_config):
    cfg = yaml.safe_load(yaml.safe_dump(tiny_config, sort_keys=False))
    target = next(t for t in cfg["tokenizers"] if t["kind"] == "bpe")
    target["vocab_size"] += 100
    changed = tiny_tokenizers / "changed.yaml"
    # Keys deliberately sorted: reordering a config file must not rerun anything.
    changed.write_text(yaml.safe_dump(cfg, sort_keys=True))
    proc = run_snakemake(tiny_tokenizers, "--configfile", str(changed), "-n", "tokenizers")
    jobs = planned_jobs(proc.output)
    per_tokenizer = [(rule, wc) for rule, wc in jobs if "tokenizer" in wc]
    assert per_tokenizer, proc.output[-3000:]
    assert {wc["tokenizer"] for _, wc in per_tokenizer} == {target["name"]}
    assert {rule for rule, _ in per_tokenizer} == {"train_tokenizer", "tokenizer_metrics"}
    # Only aggregate/target rules may run besides that tokenizer's jobs; never the corpus.
    others = {rule for rule, wc in jobs if "tokenizer" not in wc}
    assert others <= {"tokenizer_table", "tokenizers"}, others

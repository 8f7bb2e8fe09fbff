"""The real DAG on the tiny config: target `attention` (probes, dumps, analyses, comparison)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from .conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow


def _runs(config):
    return [(arm["name"], seed) for arm in config["models"] for seed in config["seeds"]]


def test_attention_outputs(tiny_attention, tiny_config):
    from tokattn.attention.store import AttentionStore

    results = tiny_attention / "results" / "tiny"
    probes = [
        json.loads(line) for line in (results / "probes/probes.jsonl").read_text().splitlines()
    ]
    assert {p["kind"] for p in probes} >= {"corpus", "simple", "repeat", "addition"}
    assert all(p["n_bytes"] <= tiny_config["probes"]["max_bytes"] for p in probes)
    arms = {arm["name"]: arm for arm in tiny_config["models"]}
    for model, seed in _runs(tiny_config):
        with AttentionStore(results / f"attention/{model}/seed{seed}.h5") as store:
            a = store.attrs
            assert store.probe_ids == [p["id"] for p in probes]
            assert (a["model"], a["seed"]) == (model, seed)
            tok_meta = json.loads(
                (
                    results / f"tokenizers/{arms[model]['tokenizer']}/tokattn_tokenizer.json"
                ).read_text()
            )
            assert a["tokenizer_hash"] == tok_meta["tokenizer_sha256"]
            summary = json.loads(
                (results / f"models/{model}/seed{seed}/train_summary.json").read_text()
            )
            assert a["checkpoint_step"] == summary["steps"] > 0
            assert a["max_decomposition_error"] < 1e-4
            assert a["iterative_lens_k"] == 2 and a["context_tokens"] <= 128
            _check_cross_attention(store, arms[model])
        heads = pd.read_parquet(results / f"analysis/{model}/seed{seed}/heads.parquet")
        assert len(heads) == arms[model]["n_layers"] * arms[model]["n_heads"]
        assert heads["induction_score"].notna().all()
        assert (results / f"analysis/{model}/seed{seed}/correlations.parquet").exists()
        assert (results / f"logs/dump_attention/{model}/seed{seed}.log").exists()
        assert (results / f"benchmarks/dump_attention/{model}/seed{seed}.tsv").exists()
    compare = pd.read_parquet(results / "analysis/compare.parquet")
    n_runs = len(_runs(tiny_config))
    pairs = compare.groupby(["model_a", "seed_a", "model_b", "seed_b"]).ngroups
    assert pairs == n_runs * (n_runs - 1) // 2
    assert compare["js"].between(0, 1).all()


def _check_cross_attention(store, arm) -> None:
    """Byte-branch arms: every probe has token × byte maps of the right shape; others none."""
    branch = arm.get("byte_branch")
    for probe_id in store.probe_ids:
        rec = store.record(probe_id)
        if not branch:
            assert not rec.has_cross_attention and rec.cross_attention is None
            continue
        n_cross = branch["cross_layers"]["first_k"]
        n_bytes = len(rec.byte_ids)
        assert rec.cross_layers.tolist() == list(range(n_cross))
        assert rec.cross_attention.shape == (n_cross, branch["cross_heads"], rec.n_tokens, n_bytes)
        assert rec.byte_ids[0] == 256 and rec.token_byte_ends[-1] == n_bytes
        # The frame is the probe's text (metaspace: after the one space it prepends).
        assert rec.byte_ids[1:].max() < 256
        frame = bytes(rec.byte_ids[1:].astype(np.uint8)).decode("utf-8")
        assert frame in (rec.text, " " + rec.text)
        rows = rec.cross_attention.astype(np.float32).sum(-1)
        np.testing.assert_allclose(rows, 1, atol=5e-3)
        reach = (rec.cross_attention > 0).sum(-1)  # keys read: window + BOS byte at most
        assert reach.max() <= branch["cross_window_bytes"] + 1


def test_dumped_attention_matches_reloaded_model(tiny_attention, tiny_config):
    from transformers import AutoModelForCausalLM

    import tokattn.training.byte_branch  # noqa: F401  (byte-branch folders load through Auto classes)
    from tokattn.attention.store import AttentionStore

    results = tiny_attention / "results" / "tiny"
    for model_name in [arm["name"] for arm in tiny_config["models"]]:
        folder = results / f"models/{model_name}/seed0"
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
        with AttentionStore(results / f"attention/{model_name}/seed0.h5") as store:
            rec = next(r for r in store if r.attrs["n_windows"] == 1)
        with torch.no_grad():
            out = model(
                torch.as_tensor(rec.token_ids, dtype=torch.long)[None], output_attentions=True
            )
        expected = torch.stack(out.attentions)[:, 0].numpy()
        np.testing.assert_allclose(rec.attention_maps(), expected, atol=1e-3, rtol=1e-3)
        if rec.has_cross_attention:
            cross = torch.stack(out.cross_attentions)[:, 0].numpy()  # [cross, head, T, N]
            np.testing.assert_allclose(rec.cross_attention, cross, atol=1e-3, rtol=1e-3)
        else:
            assert getattr(out, "cross_attentions", None) is None


def test_rerun_does_nothing(tiny_attention):
    config = str(tiny_attention / "config.yaml")
    proc = run_snakemake(tiny_attention, "--configfile", config, "-n", "attention")
    assert planned_jobs(proc.output) == [], proc.output[-3000:]


def _dump(cfg) -> str:
    # Keep the key order: Snakemake compares dict params (e.g. the corpus section) by
    # their serialisation, so a reordered file would rerun the corpus stage.
    return yaml.safe_dump(cfg, sort_keys=False)


def test_changing_a_dump_setting_reruns_dumps_not_training(tiny_attention, tiny_config):
    cfg = copy.deepcopy(tiny_config)
    cfg["attention"]["top_k"] += 1
    changed = tiny_attention / "attention_changed.yaml"
    changed.write_text(_dump(cfg))
    proc = run_snakemake(tiny_attention, "--configfile", str(changed), "-n", "attention")
    rules = {rule for rule, _ in planned_jobs(proc.output)}
    assert "dump_attention" in rules, proc.output[-3000:]
    assert rules <= {"dump_attention", "analyze_heads", "compare_attention", "attention"}
    # An analysis-only setting leaves the dumps alone.
    cfg = copy.deepcopy(tiny_config)
    cfg["attention"]["correlation_samples"] += 1
    changed.write_text(_dump(cfg))
    proc = run_snakemake(tiny_attention, "--configfile", str(changed), "-n", "attention")
    rules = {rule for rule, _ in planned_jobs(proc.output)}
    assert "analyze_heads" in rules and "dump_attention" not in rules, proc.output[-3000:]

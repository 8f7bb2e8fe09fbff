"""lm-evaluation-harness runs the repository's YAML tasks on an exported tiny model.

The harness must agree with tokattn's own scorer: the same choice log-likelihoods on the
inference items, the same bits per byte on documents that fit one window.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.eval_corpus import corpus_docs, tiny_eval_config, write_corpus_parquet
from tests.tiny_models import save_tiny_model
from tokattn.evaluation.lm import bits_per_byte, score_documents
from tokattn.evaluation.model_io import load_scoring_model
from tokattn.evaluation.scoring import choice_logliks
from tokattn.evaluation.tasks.build import build_items
from tokattn.evaluation.tasks.corpus_docs import CorpusDoc
from tokattn.evaluation.tasks.items import load_items, save_items

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install lm-eval)")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working directory laid out like an experiment's results folder: a model, a few items."""
    root = tmp_path_factory.mktemp("lm_eval")
    model = save_tiny_model(root / "models" / "bpe" / "seed0", "bpe", context=96)
    cfg = tiny_eval_config()
    cfg["inference"] = {**cfg["inference"], "n_items": 1, "generators": ["ordering", "addition"]}
    items = build_items("inference", cfg, corpus_docs("test"), "eval")[:4]
    save_items(root / "eval" / "items" / "inference.jsonl", items)
    short = [
        CorpusDoc(f"d{k}", text, "en", "prose")
        for k, text in enumerate(
            ["A short document.", "Ein kurzes Dokument über Bücher.", "短文。"]
        )
    ]
    (root / "corpus").mkdir(parents=True)
    write_corpus_parquet(root / "corpus" / "test.parquet", short)
    return root, model, short


def _run(model: Path, task: str, add_bos: bool) -> dict:
    from lm_eval.tasks import TaskManager

    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model},add_bos_token={add_bos},dtype=float32",
        tasks=[task],
        task_manager=TaskManager(include_path=str(REPO / "tasks"), include_defaults=False),
        device="cpu",
        batch_size=4,
        log_samples=True,
    )


def test_multiple_choice_matches_tokattn(workdir, monkeypatch):
    root, model, _ = workdir
    monkeypatch.chdir(root)  # the YAML's data_files are relative to the experiment's folder
    out = _run(model, "tokattn_inference", add_bos=True)
    samples = out["samples"]["tokattn_inference"]
    items = load_items("inference", root / "eval" / "items" / "inference.jsonl")
    assert len(samples) == len(items) == 4
    sm = load_scoring_model(model, device="cpu")
    by_id = {it.id: it for it in items}
    for sample in samples:
        item = by_id[sample["doc"]["id"]]
        harness = [float(r[0]) for r in sample["filtered_resps"]]
        ours = choice_logliks(sm, item.context, item.choices)
        assert harness == pytest.approx(ours, abs=1e-3)
    metrics = out["results"]["tokattn_inference"]
    assert {"acc,none", "acc_bytes,none"} <= set(metrics)


def test_bits_per_byte_matches_tokattn(workdir, monkeypatch):
    root, model, short = workdir
    monkeypatch.chdir(root)
    out = _run(model, "tokattn_lm", add_bos=False)
    harness = out["results"]["tokattn_lm"]["bits_per_byte,none"]
    sm = load_scoring_model(model, device="cpu")
    ours = bits_per_byte(score_documents(sm, [d.text for d in short], stride_fraction=1.0))
    assert math.isfinite(ours)
    assert harness == pytest.approx(ours, rel=1e-4)

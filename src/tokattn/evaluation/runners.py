"""One function per benchmark task: score a model folder, write `{task}.json` + `.jsonl`.

Each runner writes the per-item records (JSONL, one line per item or document) and then
the task summary (JSON: metrics per group with item-bootstrap CIs, settings, timing,
throughput), both atomically, so a killed job leaves neither looking complete.
"""

from __future__ import annotations

import platform
import random
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from tokattn.evaluation.aggregate import summarize_task
from tokattn.evaluation.generation import generate
from tokattn.evaluation.lm import LN2, score_documents
from tokattn.evaluation.model_io import ScoringModel, load_scoring_model
from tokattn.evaluation.scoring import choice_bytes, choice_logliks
from tokattn.evaluation.tasks.corpus_docs import load_corpus_docs
from tokattn.evaluation.tasks.items import load_items, write_json_atomic, write_jsonl_atomic


def _load(model_dir, cfg: Mapping, threads: int | None) -> ScoringModel:
    if threads:
        torch.set_num_threads(int(threads))
    return load_scoring_model(model_dir, cfg["device"], cfg["dtype"], cfg.get("max_context_tokens"))


def _versions() -> dict:
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _finish(
    task: str,
    rows: list[dict],
    cfg: Mapping,
    sm: ScoringModel,
    out_json,
    out_jsonl,
    model_name: str,
    seed: int,
    seconds: float,
    settings: Mapping,
) -> dict:
    write_jsonl_atomic(out_jsonl, rows)
    df = pd.DataFrame(rows)
    metrics = summarize_task(
        task, {seed: df}, cfg["bootstrap_samples"], cfg["confidence"], cfg["seed"]
    )
    summary = {
        "task": task,
        "model": model_name,
        "seed": seed,
        "model_dir": str(sm.path),
        "context_tokens": sm.max_context_tokens,
        "device": str(sm.device),
        "n_items": len(rows),
        "seconds": round(seconds, 3),
        "items_per_second": round(len(rows) / seconds, 3) if seconds > 0 else None,
        "settings": dict(settings),
        "versions": _versions(),
        "metrics": [
            {k: v for k, v in m.items() if k not in ("seed_std", "n_seeds", "ci_method")}
            for m in metrics
        ],
    }
    write_json_atomic(out_json, summary)
    return summary


def evaluate_lm(
    model_dir, test_parquet, cfg: Mapping, out_json, out_jsonl, model_name="", seed=0, threads=None
) -> dict:
    """Score bits per byte on the test split (overall / language / domain in the summary)."""
    c = cfg["lm"]
    docs = [d for d in load_corpus_docs(test_parquet) if d.text]
    random.Random(f"{cfg['seed']}:lm").shuffle(docs)  # a budget then samples all sources
    if c.get("max_documents"):
        docs = docs[: c["max_documents"]]
    if c.get("max_bytes"):
        kept, total = [], 0
        for d in docs:
            if total >= c["max_bytes"]:
                break
            kept.append(d)
            total += len(d.text.encode("utf-8"))
        docs = kept
    docs.sort(key=lambda d: d.id)
    sm = _load(model_dir, cfg, threads)
    t0 = time.perf_counter()
    scores = score_documents(sm, [d.text for d in docs], c["stride_fraction"], cfg["batch_size"])
    seconds = time.perf_counter() - t0
    rows = [
        {
            "id": d.id,
            "subtask": "test",
            "language": d.language,
            "domain": d.domain,
            "n_bytes": s.n_bytes,
            "n_tokens": s.n_tokens,
            "covered_bytes": s.covered_bytes,
            "nll_nats": s.nll_nats,
            "nll_bits": s.nll_nats / LN2,
            "bits_per_byte": s.bits_per_byte,
        }
        for d, s in zip(docs, scores, strict=True)
    ]
    settings = {"stride_fraction": c["stride_fraction"], "eos_scored": False}
    return _finish("lm", rows, cfg, sm, out_json, out_jsonl, model_name, seed, seconds, settings)


def _choice_row(item, lls: list[float]) -> dict:
    nbytes = choice_bytes(item.choices)
    pred = int(np.argmax(lls))
    pred_norm = int(np.argmax([ll / max(1, b) for ll, b in zip(lls, nbytes, strict=True)]))
    correct = item.meta.get("correct", [item.answer])
    order = np.argsort(-np.asarray(lls), kind="stable")
    rank = int(np.where(order == item.answer)[0][0]) + 1
    return {
        "id": item.id,
        "subtask": item.subtask,
        "language": item.language,
        "domain": item.domain,
        "n_choices": len(item.choices),
        "answer": item.answer,
        "pred": pred,
        "pred_norm": pred_norm,
        "correct": int(pred in correct),
        "correct_norm": int(pred_norm in correct),
        "answer_rank": rank,
        "logliks": [round(x, 6) for x in lls],
    }


def evaluate_inference(
    model_dir, items_jsonl, cfg: Mapping, out_json, out_jsonl, model_name="", seed=0, threads=None
) -> dict:
    """Score multiple-choice items by choice log-likelihood: accuracy and byte-normalised accuracy."""
    items = load_items("inference", items_jsonl)
    sm = _load(model_dir, cfg, threads)
    t0 = time.perf_counter()
    rows = [_choice_row(it, choice_logliks(sm, it.context, it.choices)) for it in items]
    seconds = time.perf_counter() - t0
    settings = {"normalisation": "log-likelihood / choice bytes"}
    return _finish(
        "inference", rows, cfg, sm, out_json, out_jsonl, model_name, seed, seconds, settings
    )


def exact_match(generated: str, answer: str) -> bool:
    """Return whether the generation starts with the answer and no digit/letter runs on."""
    gen, ans = generated.strip(), answer.strip()
    return gen.startswith(ans) and not (len(gen) > len(ans) and gen[len(ans)].isalnum())


def evaluate_memory(
    model_dir, items_jsonl, cfg: Mapping, out_json, out_jsonl, model_name="", seed=0, threads=None
) -> dict:
    """Score retention: greedy exact match and log-likelihood rank of the right value."""
    items = load_items("memory", items_jsonl)
    sm = _load(model_dir, cfg, threads)
    t0 = time.perf_counter()
    rows = []
    answer_bytes = max((len(it.choices[it.answer].encode()) for it in items), default=1)
    generated = generate(
        sm,
        [it.context for it in items],
        max_new_bytes=answer_bytes + 8,
        settings={"num_beams": 1, "do_sample": False},
        stop="\n",
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
    )
    for it, gen in zip(items, generated, strict=True):
        row = _choice_row(it, choice_logliks(sm, it.context, it.choices))
        rows.append(
            {
                **row,
                "distance_bytes": it.distance_bytes,
                "filler_bytes": it.filler_bytes,
                "generated": gen,
                "exact_match": int(exact_match(gen, it.choices[it.answer])),
                "ll_correct": row["correct"],
                "reciprocal_rank": 1.0 / row["answer_rank"],
            }
        )
    seconds = time.perf_counter() - t0
    settings = {"generation": "greedy", "max_new_bytes": answer_bytes + 8}
    return _finish(
        "memory", rows, cfg, sm, out_json, out_jsonl, model_name, seed, seconds, settings
    )


def evaluate_summarization(
    model_dir, items_jsonl, cfg: Mapping, out_json, out_jsonl, model_name="", seed=0, threads=None
) -> dict:
    """Generate summaries (byte budget) and score ROUGE-1/2/L/Lsum with the local module."""
    from tokattn.evaluation.metrics import load_rouge

    c, g = cfg["summarization"], cfg["generation"]
    items = load_items("summarization", items_jsonl)
    sm = _load(model_dir, cfg, threads)
    t0 = time.perf_counter()
    prompts = [c["prompt"].format(document=it.document) for it in items]
    preds = generate(
        sm,
        prompts,
        g["max_new_bytes"],
        g,
        stop="\n",
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
    )
    rouge = load_rouge()
    scores = rouge.compute(
        predictions=[p.strip() for p in preds],
        references=[it.summaries for it in items],
        use_aggregator=False,
    )
    seconds = time.perf_counter() - t0
    rows = []
    for k, (it, pred) in enumerate(zip(items, preds, strict=True)):
        rows.append(
            {
                "id": it.id,
                "subtask": it.subtask,
                "language": it.language,
                "domain": it.domain,
                "document_bytes": len(it.document.encode("utf-8")),
                "summary_bytes": len(pred.strip().encode("utf-8")),
                "prediction": pred.strip(),
                "references": it.summaries,
                **{
                    key: float(scores[key][k])
                    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum")
                },
            }
        )
    settings = {
        k: g[k] for k in ("max_new_bytes", "num_beams", "do_sample", "temperature", "top_p")
    }
    settings["prompt"] = c["prompt"]
    return _finish(
        "summarization", rows, cfg, sm, out_json, out_jsonl, model_name, seed, seconds, settings
    )


RUNNERS = {
    "lm": evaluate_lm,
    "inference": evaluate_inference,
    "memory": evaluate_memory,
    "summarization": evaluate_summarization,
}

"""Small synthetic inputs for the report's figure functions (shapes of the real files)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

MODELS = ["byte", "bpe", "bbpe"]


def summary_rows(models=MODELS, n_seeds=2) -> pd.DataFrame:
    """Rows shaped like eval/summary.csv; each value has a distinct, known CI."""
    rng = np.random.default_rng(0)
    rows = []

    def add(model, task, metric, subtask="all", language="all", domain="all", distance="all"):
        mean = float(rng.uniform(0.2, 0.8))
        low, high = mean - float(rng.uniform(0.01, 0.1)), mean + float(rng.uniform(0.01, 0.1))
        rows.append(
            dict(
                model=model,
                tokenizer=model,
                task=task,
                metric=metric,
                subtask=subtask,
                language=language,
                domain=domain,
                distance_bytes=distance,
                n_seeds=n_seeds,
                n_items=10,
                mean=mean,
                ci_low=low,
                ci_high=high,
                seed_std=0.01,
                ci_method="t over seeds + item variance",
            )
        )

    for model in models:
        add(model, "lm", "bits_per_byte")
        add(model, "lm", "token_perplexity")
        for lang in ("de", "en", "zh"):
            add(model, "lm", "bits_per_byte", language=lang)
        for dom in ("dialog", "legal"):
            add(model, "lm", "bits_per_byte", domain=dom)
        add(model, "inference", "accuracy")
        for sub in ("addition", "cloze", "ordering"):
            add(model, "inference", "accuracy", subtask=sub)
        add(model, "memory", "ll_accuracy")
        add(model, "memory", "exact_match")
        for dist in ("32", "128", "512"):
            add(model, "memory", "ll_accuracy", distance=dist)
            add(model, "memory", "exact_match", distance=dist)
            add(model, "memory", "ll_accuracy", subtask="passkey", distance=dist)
        for metric in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            add(model, "summarization", metric)
    return pd.DataFrame(rows)


@pytest.fixture
def summary() -> pd.DataFrame:
    return summary_rows()


def compare_rows(layers=None, heads=2, seeds=(0, 1)):
    """Rows shaped like analysis/compare.parquet for every pair of (model, seed) runs."""
    layers = layers or {"byte": 2, "bpe": 2, "bbpe": 4}
    runs = [(m, s) for m in layers for s in seeds]
    rng = np.random.default_rng(1)
    rows = []
    for (ma, sa), (mb, sb) in itertools.combinations(runs, 2):
        la, lb = layers[ma], layers[mb]
        ids = dict(model_a=ma, seed_a=sa, model_b=mb, seed_b=sb, n_probes=3)
        for i, j in itertools.product(range(la), range(lb)):
            rows.append(
                dict(
                    ids,
                    kind="layer",
                    layer_a=i,
                    head_a=-1,
                    layer_b=j,
                    head_b=-1,
                    depth_a=(i + 0.5) / la,
                    depth_b=(j + 0.5) / lb,
                    js=float(rng.uniform(0, 0.1)) + (0.3 if ma != mb else 0),
                )
            )
        for k in range(min(la, lb) * heads):
            rows.append(
                dict(
                    ids,
                    kind="head_match",
                    layer_a=k // heads,
                    head_a=k % heads,
                    layer_b=k // heads,
                    head_b=(k + 1) % heads,
                    depth_a=0.5,
                    depth_b=0.5,
                    js=float(rng.uniform(0, 0.5)),
                    js_unweighted=float(rng.uniform(0, 0.5)),
                    mass_a=float(rng.uniform(0, 1)),
                    mass_b=float(rng.uniform(0, 1)),
                )
            )
    return pd.DataFrame(rows)


@pytest.fixture
def compare() -> pd.DataFrame:
    return compare_rows()


def heads_rows(models=MODELS, layers=2, heads=3, seeds=(0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = [
        dict(
            model=m,
            seed=s,
            tokenizer=m,
            layer=layer,
            head=h,
            n_queries=10,
            n_query_words=4,
            entropy_norm_per_token=rng.random(),
            distance_tokens=rng.random() * 10,
            distance_bytes=rng.random() * 20,
            prev_token_score_per_token=rng.random(),
            sink_score=rng.random(),
            contribution_norm_share=rng.random() / heads,
            contribution_norm=rng.random(),
            contribution_additive=rng.random() / heads,
            bias_additive=0.1,
            cosine=rng.random(),
            entropy_norm_word=rng.random(),
            distance_words=rng.random() * 3,
            prev_word_score=rng.random(),
            word_projected_mass=rng.random(),
            induction_score=rng.random(),
            induction_n_queries=7,
        )
        for m in models
        for s in seeds
        for layer in range(layers)
        for h in range(heads)
    ]
    return pd.DataFrame(rows)

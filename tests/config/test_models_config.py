"""Config keys of the training stage (seeds, models, training, resources.train)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tokattn.config import ConfigError, load_config, validate_config

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


def _with(mutate) -> dict:
    cfg = copy.deepcopy(TINY)
    mutate(cfg)
    return cfg


def _arm(cfg, i=0):
    return cfg["models"][i]


# (id, mutation, text the error must contain)
MALFORMED = [
    ("unknown-tokenizer", lambda c: _arm(c).update(tokenizer="nope"), "models[0].tokenizer"),
    ("duplicate-arm", lambda c: c["models"].append(dict(_arm(c))), "models[3].name"),
    ("no-context", lambda c: _arm(c).pop("context_bytes"), "models[0].context_tokens"),
    (
        "both-contexts",
        lambda c: _arm(c).update(context_tokens=128),
        "models[0].context_tokens",
    ),
    ("odd-head-size", lambda c: _arm(c).update(n_heads=3), "models[0].n_heads"),
    ("kv-heads-not-dividing", lambda c: _arm(c).update(n_kv_heads=3), "models[0].n_kv_heads"),
    ("unknown-arm-key", lambda c: _arm(c).update(layers=2), "models[0].layers"),
    ("missing-d-model", lambda c: _arm(c).pop("d_model"), "models[0].d_model"),
    ("context-too-small", lambda c: _arm(c).update(context_bytes=4), "models[0].context_bytes"),
    (
        "match-unknown-arm",
        lambda c: _arm(c).update(match_non_embedding_params="ghost"),
        "models[0].match_non_embedding_params",
    ),
    (
        "match-itself",
        lambda c: _arm(c).update(match_non_embedding_params="byte"),
        "models[0].match_non_embedding_params",
    ),
    ("missing-training", lambda c: c.pop("training"), "'training'"),
    ("missing-budget", lambda c: c["training"].pop("budget_bytes"), "training.budget_bytes"),
    ("budget-zero", lambda c: c["training"].update(budget_bytes=0), "training.budget_bytes"),
    (
        "batch-not-multiple",
        lambda c: c["training"].update(batch_size=12, micro_batch_size=8),
        "training.batch_size",
    ),
    ("min-lr-above-lr", lambda c: c["training"].update(min_lr=1.0), "training.min_lr"),
    ("bad-dtype", lambda c: c["training"].update(dtype="float16"), "training.dtype"),
    ("unknown-training-key", lambda c: c["training"].update(epochs=3), "training.epochs"),
    ("negative-seed", lambda c: c.update(seeds=[-1]), "seeds[0]"),
    ("duplicate-seeds", lambda c: c.update(seeds=[1, 1]), "seeds"),
    ("negative-gpus", lambda c: c["resources"]["train"].update(gpu=-1), "resources.train.gpu"),
    (
        "quoted-gpu-model",
        lambda c: c["resources"]["train"].update(gpu_model="'h100'"),
        "resources.train.gpu_model",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_training_config_names_the_key(mutate, key):
    with pytest.raises(ConfigError) as err:
        validate_config(_with(mutate))
    assert key in str(err.value)


def test_defaults_are_filled():
    cfg = copy.deepcopy(TINY)
    del cfg["seeds"]
    cfg["training"] = {"budget_bytes": 1000}
    del cfg["resources"]["train"]
    resolved = validate_config(cfg)
    assert resolved["seeds"] == [0]
    assert resolved["training"]["batch_size"] == 32
    assert resolved["training"]["compile"] is False
    assert resolved["models"][0]["tied_embeddings"] is True
    assert resolved["models"][0]["n_kv_heads"] is None
    assert resolved["resources"]["train"] == {
        "gpu": 0,
        "gpu_model": None,
        "mem_mb": 16000,
        "runtime_min": 720,
        "threads": 4,
    }


def test_matching_another_arm_and_no_models_are_valid():
    def deep_byte(c):
        c["models"].append(
            dict(_arm(c), name="byte_deep", n_layers=4, match_non_embedding_params="bpe_1k")
        )

    validate_config(_with(deep_byte))
    no_models = _with(lambda c: (c.pop("models"), c.pop("training")))
    assert validate_config(no_models)["models"] == []


@pytest.mark.parametrize("name", ["tiny.yaml", "config.yaml"])
def test_shipped_configs_train_every_arm_on_a_configured_tokenizer(name):
    cfg = load_config(REPO / "config" / name)
    tokenizers = {t["name"] for t in cfg["tokenizers"]}
    assert cfg["models"] and {m["tokenizer"] for m in cfg["models"]} <= tokenizers
    assert len(cfg["seeds"]) >= 2

"""Config keys of the training stage (seeds, models, training, resources.train)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tokattn.common.config import ConfigError, validate_config
from tokattn.common.config_files import load_config

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


def _with(mutate) -> dict:
    cfg = copy.deepcopy(TINY)
    mutate(cfg)
    return cfg


def _arm(cfg, i=0):
    return cfg["models"][i]


def _branch(cfg, i=0):
    """Give arm i a byte branch (the tiny config's) and return it for mutation."""
    arm = cfg["models"][i]
    arm["byte_branch"] = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cross_heads": 2}
    return arm["byte_branch"]


# (id, mutation, text the error must contain)
MALFORMED = [
    ("unknown-tokenizer", lambda c: _arm(c).update(tokenizer="nope"), "models[0].tokenizer"),
    (
        "duplicate-arm",
        lambda c: c["models"].append(dict(_arm(c))),
        f"models[{len(TINY['models'])}].name",
    ),
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
    (
        "branch-cross-layer-missing",
        lambda c: _branch(c).update(cross_layers=[0, 2]),
        "models[0].byte_branch.cross_layers",
    ),
    (
        "branch-first-k-too-many",
        lambda c: _branch(c).update(cross_layers={"first_k": 3}),
        "models[0].byte_branch.cross_layers.first_k",
    ),
    (
        "branch-first-k-zero",
        lambda c: _branch(c).update(cross_layers={"first_k": 0}),
        "models[0].byte_branch.cross_layers",
    ),
    (
        "branch-cross-layers-word",
        lambda c: _branch(c).update(cross_layers="most"),
        "models[0].byte_branch.cross_layers",
    ),
    (
        "branch-cross-layers-empty",
        lambda c: _branch(c).update(cross_layers=[]),
        "models[0].byte_branch.cross_layers",
    ),
    (
        "branch-heads-not-dividing",
        lambda c: _branch(c).update(d_model=48, n_heads=5),
        "models[0].byte_branch.n_heads",
    ),
    (
        "branch-odd-head-size",
        lambda c: _branch(c).update(d_model=48, n_heads=16),
        "models[0].byte_branch.n_heads",
    ),
    (
        "branch-cross-heads-not-dividing",
        lambda c: _branch(c).update(cross_heads=3),
        "models[0].byte_branch.cross_heads",
    ),
    (
        "branch-window-zero",
        lambda c: _branch(c).update(window_bytes=0),
        "models[0].byte_branch.window_bytes",
    ),
    (
        "branch-cross-window-text",
        lambda c: _branch(c).update(cross_window_bytes="8"),
        "models[0].byte_branch.cross_window_bytes",
    ),
    ("branch-missing-d-model", lambda c: _branch(c).pop("d_model"), "byte_branch.d_model"),
    ("branch-unknown-key", lambda c: _branch(c).update(d1=32), "models[0].byte_branch.d1"),
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


def test_byte_branch_defaults_and_every_cross_layer_form_are_valid():
    from tokattn.training.model import byte_branch_options

    def branch(c):
        c["models"][1]["byte_branch"] = {"d_model": 32, "n_layers": 1}

    resolved = validate_config(_with(branch))["models"][1]["byte_branch"]
    assert resolved == {
        "d_model": 32,
        "n_layers": 1,
        "n_heads": 2,
        "d_ff": None,
        "window_bytes": None,
        "cross_layers": {"first_k": 1},
        "cross_heads": 4,
        "cross_window_bytes": None,
        "gate_init": 0.0,
    }
    assert byte_branch_options(resolved, 2)["cross_layers"] == [0]
    for spec, layers in (([1], [1]), ("all", [0, 1]), ({"first_k": 2}, [0, 1])):
        cfg = _with(branch)
        cfg["models"][1]["byte_branch"]["cross_layers"] = spec
        arm = validate_config(cfg)["models"][1]
        assert byte_branch_options(arm["byte_branch"], arm["n_layers"])["cross_layers"] == layers
    # Plain arms get no byte_branch key (their params, hence their jobs, are unchanged).
    assert "byte_branch" not in validate_config(copy.deepcopy(TINY))["models"][0]


def test_shipped_ablations_differ_from_their_baseline_only_in_the_branch():
    cfg = load_config(REPO / "config" / "config.yaml")
    arms = {m["name"]: m for m in cfg["models"]}
    branch_arms = [m for m in cfg["models"] if m.get("byte_branch")]
    assert len(branch_arms) >= 5
    assert len({m["tokenizer"] for m in branch_arms}) == 1
    baseline = arms[branch_arms[0]["tokenizer"]]
    assert "byte_branch" not in baseline
    for arm in branch_arms:
        main = {k: v for k, v in arm.items() if k not in ("name", "byte_branch")}
        assert main == {k: v for k, v in baseline.items() if k != "name"}, arm["name"]
    # The options vary: cross layers, cross window, width and depth all have two values.
    options = [m["byte_branch"] for m in branch_arms]
    for key in ("cross_layers", "cross_window_bytes", "d_model", "n_layers"):
        assert len({str(o[key]) for o in options}) >= 2, key
    tiny = load_config(REPO / "config" / "tiny.yaml")
    assert sum(1 for m in tiny["models"] if m.get("byte_branch")) == 1

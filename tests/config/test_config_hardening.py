"""Config values that used to pass validation and fail (or silently misbehave) later.

Non-finite numbers, integers given as floats, sizes beyond any real hardware, seeds
beyond what the generators accept, duplicate YAML keys and YAML syntax errors: each is
rejected before any job, with a message naming the key (or the file, line and column).
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tokattn.common.config import ConfigError, validate_config
from tokattn.common.config_files import load_config, read_config_file

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


def _with(path: list, value) -> dict:
    cfg = copy.deepcopy(TINY)
    node = cfg
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return cfg


# (id, key path, value, text the message must contain)
BAD_VALUES = [
    ("lr-inf", ["training", "lr"], float("inf"), "training.lr"),
    ("lr-nan", ["training", "lr"], float("nan"), "training.lr"),
    ("min-lr-minus-inf", ["training", "min_lr"], float("-inf"), "training.min_lr"),
    ("grad-clip-inf", ["training", "grad_clip"], float("inf"), "training.grad_clip"),
    ("rope-theta-nan", ["models", 1, "rope_theta"], float("nan"), "models[1].rope_theta"),
    (
        "temperature-inf",
        ["evaluation", "generation", "temperature"],
        float("inf"),
        "evaluation.generation.temperature",
    ),
    ("vocab-size-whole-float", ["tokenizers", 2, "vocab_size"], 1000.0, "tokenizers[2].vocab_size"),
    ("batch-size-whole-float", ["training", "batch_size"], 8.0, "training.batch_size"),
    ("seed-whole-float", ["seeds"], [0, 1.0], "seeds[1]"),
    ("context-bytes-1e12", ["models", 0, "context_bytes"], 10**12, "models[0].context_bytes"),
    ("context-bytes-float-1e12", ["models", 0, "context_bytes"], 1e12, "models[0].context_bytes"),
    ("d-model-2-pow-20", ["models", 0, "d_model"], 2**20, "models[0].d_model"),
    ("n-layers-huge", ["models", 0, "n_layers"], 10**6, "models[0].n_layers"),
    ("d-ff-huge", ["models", 0, "d_ff"], 2**30, "models[0].d_ff"),
    ("seed-10-pow-30", ["seeds"], [10**30], "seeds[0]"),
    ("seed-2-pow-32", ["seeds"], [2**32], "seeds[0]"),
    ("corpus-seed-huge", ["corpus", "seed"], 10**30, "corpus.seed"),
    ("batch-size-huge", ["training", "batch_size"], 2**40, "training.batch_size"),
]


@pytest.mark.parametrize("case_id,path,value,key", BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_rejects_value_naming_the_key(case_id, path, value, key):
    with pytest.raises(ConfigError) as info:
        validate_config(_with(path, value))
    assert f"'{key}'" in str(info.value), str(info.value)


def test_largest_allowed_values_pass():
    cfg = _with(["seeds"], [0, 2**32 - 1])
    cfg["models"][0]["d_model"] = 65536
    cfg["models"][0]["n_heads"] = 1024
    cfg["models"][0]["context_bytes"] = 4 * 2**20
    cfg["training"]["lr"] = 1e300
    validate_config(cfg)


def test_yaml_inf_and_float_integers_are_rejected_from_a_file(tmp_path):
    """The YAML spellings a researcher types: `.inf`, `.NaN`, `1000.0`."""
    text = (REPO / "config" / "tiny.yaml").read_text()
    cases = {
        "lr: 3.0e-3": ("lr: .inf", "training.lr"),
        "min_lr: 3.0e-4": ("min_lr: .NaN", "training.min_lr"),
        "vocab_size: 1000}": ("vocab_size: 1000.0}", "tokenizers[2].vocab_size"),
        "seeds: [0, 1]": ("seeds: [0, 1000000000000000000000000000000]", "seeds[1]"),
    }
    for old, (new, key) in cases.items():
        assert old in text
        path = tmp_path / "cfg.yaml"
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
            load_config(path)


def test_duplicate_key_names_the_key_and_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    text = (REPO / "config" / "tiny.yaml").read_text() + "seeds: [5]\n"
    path.write_text(text)
    first = text.splitlines().index("seeds: [0, 1]") + 1
    last = len(text.splitlines())
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and f"line {last}" in msg and f"line {first}" in msg, msg
    assert "'seeds'" in msg


def test_duplicate_nested_key_is_rejected(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("training:\n  lr: 0.1\n  budget_bytes: 5\n  lr: 0.2\n")
    with pytest.raises(
        ConfigError, match=r"line 4, column 3: duplicate key 'lr' \(first given on line 2\)"
    ):
        read_config_file(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {lr: 0.1, beta1: 0.9}\ntraining:\n  <<: *b\n  lr: 0.2\n")
    assert read_config_file(path)["training"] == {"lr": 0.2, "beta1": 0.9}


@pytest.mark.parametrize(
    "text,line,column",
    [
        ("corpus: [unclosed\nseeds: [1]\n", 2, 6),
        ("corpus:\n  sources: x\n   bad: indent\n", 3, 7),
        ("seeds: [0]\n\tmodels: []\n", 2, 1),
    ],
)
def test_yaml_syntax_error_names_file_line_and_column(tmp_path, text, line, column):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}, line {line}, column {column}" in str(info.value), str(info.value)


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_files_merge_in_order_and_overrides_come_last(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("training: {lr: 0.001}\nseeds: [7]\n")
    cfg = load_config([REPO / "config" / "tiny.yaml", extra], overrides={"seeds": [9]})
    assert cfg["training"]["lr"] == 0.001
    assert cfg["training"]["budget_bytes"] == TINY["training"]["budget_bytes"]
    assert cfg["seeds"] == [9]


def test_shipped_configs_have_no_duplicate_keys():
    for name in ("tiny.yaml", "config.yaml"):
        path = REPO / "config" / name
        assert read_config_file(path) == yaml.safe_load(path.read_text())


def test_check_command(tmp_path):
    from tokattn.cli import main

    assert main(["config", "check", str(REPO / "config" / "tiny.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0]\nseeds: [5]\n")
    assert main(["config", "check", str(bad)]) == 1


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
        + [*args, "--cores", "1", "-n", "tokenizers"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    proc.output = proc.stdout + proc.stderr
    return proc


def test_snakemake_names_duplicate_keys_syntax_errors_and_seeds(tmp_path):
    """The real CLI: every config file goes through the project's loader."""
    text = (REPO / "config" / "tiny.yaml").read_text()
    # A duplicate key in a --configfile: Snakemake's own parse keeps the last value.
    dup = tmp_path / "dup.yaml"
    dup.write_text(text + "seeds: [5]\n")
    proc = _snakemake(tmp_path / "w1", "--configfile", str(dup))
    assert proc.returncode != 0
    assert "Invalid configuration" in proc.output and "duplicate key 'seeds'" in proc.output
    assert str(dup) in proc.output, proc.output[-2000:]

    # The default config file (no --configfile): a syntax error names file, line, column.
    work = tmp_path / "w2"
    (work / "config").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(text.replace("seeds: [0, 1]", "seeds: [0, 1"))
    proc = _snakemake(work)
    assert proc.returncode != 0
    line = text.splitlines().index("seeds: [0, 1]") + 2
    assert f"config/config.yaml, line {line}, column" in proc.output, proc.output[-2000:]
    assert "not valid JSON or YAML" not in proc.output

    # A seed of 10**30: named, not a PeriodicWildcardError.
    big = tmp_path / "big_seed.yaml"
    big.write_text(text.replace("seeds: [0, 1]", f"seeds: [0, {10**30}]"))
    proc = _snakemake(tmp_path / "w3", "--configfile", str(big))
    assert proc.returncode != 0
    assert "Invalid configuration" in proc.output and "'seeds[1]'" in proc.output
    assert "PeriodicWildcardError" not in proc.output, proc.output[-2000:]
    assert not (tmp_path / "w3" / "results").exists()

    # --config KEY=VALUE overrides are merged into the files' config and validated.
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(text)
    proc = _snakemake(tmp_path / "w4", "--configfile", str(tiny), "--config", "experiment=")
    assert proc.returncode != 0
    assert "Invalid configuration: config key 'experiment'" in proc.output, proc.output[-2000:]

"""Malformed configs are rejected before any job runs, with a message naming the key."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tokattn.common.config import ConfigError, validate_config
from tokattn.common.config_files import load_config

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


def _set(path, value):
    def mutate(cfg):
        node = cfg
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(cfg):
        node = cfg
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


def _append(path, item):
    def mutate(cfg):
        node = cfg
        for part in path:
            node = node[part]
        node.append(item)

    return mutate


HF_JSON = {"name": "mine", "type": "hf", "path": "json", "data_files": "x.jsonl", "domain": "web"}

# (id, mutation of config/tiny.yaml, text the error must contain: the key it names)
MALFORMED = [
    ("unknown-top-level-key", _set(["colour"], "blue"), "'colour'"),
    (
        "unknown-source-key",
        _set(["corpus", "sources", 0, "maxbytes"], 5),
        "corpus.sources[0].maxbytes",
    ),
    ("unknown-tokenizer-key", _set(["tokenizers", 2, "vocab"], 5), "tokenizers[2].vocab"),
    ("missing-corpus", _delete(["corpus"]), "'corpus'"),
    ("missing-tokenizers", _delete(["tokenizers"]), "'tokenizers'"),
    ("empty-tokenizers", _set(["tokenizers"], []), "'tokenizers'"),
    ("empty-sources", _set(["corpus", "sources"], []), "corpus.sources"),
    (
        "missing-source-domain",
        _delete(["corpus", "sources", 0, "domain"]),
        "corpus.sources[0].domain",
    ),
    ("missing-tokenizer-kind", _delete(["tokenizers", 2, "kind"]), "tokenizers[2].kind"),
    (
        "vocab-size-string",
        _set(["tokenizers", 2, "vocab_size"], "1000"),
        "tokenizers[2].vocab_size",
    ),
    ("vocab-size-negative", _set(["tokenizers", 2, "vocab_size"], -5), "tokenizers[2].vocab_size"),
    ("vocab-size-float", _set(["tokenizers", 2, "vocab_size"], 1000.5), "tokenizers[2].vocab_size"),
    (
        "bpe-without-vocab-size",
        _delete(["tokenizers", 2, "vocab_size"]),
        "tokenizers[2].vocab_size",
    ),
    (
        "unknown-tokenizer-kind",
        _set(["tokenizers", 2, "kind"], "sentencepiece"),
        "tokenizers[2].kind",
    ),
    (
        "unknown-pre-tokenizer",
        _set(["tokenizers", 2, "pre_tokenizer"], "regex"),
        "tokenizers[2].pre_tokenizer",
    ),
    (
        "byte-with-metaspace",
        _set(["tokenizers", 0, "pre_tokenizer"], "metaspace"),
        "tokenizers[0].pre_tokenizer",
    ),
    (
        "char-coverage-above-one",
        _set(["tokenizers", 1, "char_coverage"], 1.5),
        "tokenizers[1].char_coverage",
    ),
    ("duplicate-tokenizer-names", _set(["tokenizers", 3, "name"], "bpe_1k"), "tokenizers[3].name"),
    (
        "duplicate-source-names",
        _set(["corpus", "sources", 1, "name"], "python_docs"),
        "corpus.sources[1].name",
    ),
    ("name-with-slash", _set(["tokenizers", 2, "name"], "bpe/1k"), "tokenizers[2].name"),
    (
        "negative-max-bytes",
        _set(["corpus", "sources", 0, "max_bytes"], -1),
        "corpus.sources[0].max_bytes",
    ),
    (
        "zero-max-bytes",
        _set(["corpus", "sources", 0, "max_bytes"], 0),
        "corpus.sources[0].max_bytes",
    ),
    ("unknown-source-type", _set(["corpus", "sources", 0, "type"], "s3"), "corpus.sources[0].type"),
    (
        "unknown-builtin",
        _set(["corpus", "sources", 0, "builtin"], "gutenberg"),
        "corpus.sources[0].builtin",
    ),
    (
        "builtin-without-name",
        _delete(["corpus", "sources", 0, "builtin"]),
        "corpus.sources[0].builtin",
    ),
    (
        "bad-decode-policy",
        _set(["corpus", "sources", 0, "on_decode_error"], "ignore"),
        "corpus.sources[0].on_decode_error",
    ),
    ("test-fraction-too-big", _set(["corpus", "test_fraction"], 0.9), "corpus.test_fraction"),
    ("negative-seed", _set(["corpus", "seed"], -3), "corpus.seed"),
    ("bad-normalization", _set(["corpus", "normalization"], "NFX"), "corpus.normalization"),
    (
        "bad-language-code",
        _set(["corpus", "sources", 0, "language"], "English"),
        "corpus.sources[0].language",
    ),
    (
        "hf-without-path",
        _append(["corpus", "sources"], {k: v for k, v in HF_JSON.items() if k != "path"}),
        "corpus.sources[5].path",
    ),
    (
        "hf-local-without-data-files",
        _append(["corpus", "sources"], {k: v for k, v in HF_JSON.items() if k != "data_files"}),
        "corpus.sources[5].data_files",
    ),
    (
        "hf-hub-id-without-hub-flag",
        _append(
            ["corpus", "sources"],
            {
                "name": "w",
                "type": "hf",
                "path": "Salesforce/wikitext",
                "domain": "x",
                "language": "en",
            },
        ),
        "corpus.sources[5].hub",
    ),
    (
        "hf-auto-language-without-field",
        _append(["corpus", "sources"], HF_JSON),
        "corpus.sources[5].language",
    ),
    ("sources-not-a-list", _set(["corpus", "sources"], {"name": "x"}), "corpus.sources"),
    ("threads-zero", _set(["resources", "threads"], 0), "resources.threads"),
]


def _mutated(mutate):
    cfg = copy.deepcopy(TINY)
    mutate(cfg)
    return cfg


def test_shipped_configs_are_valid():
    for name in ("tiny.yaml", "config.yaml"):
        cfg = load_config(REPO / "config" / name)
        assert cfg["tokenizers"] and cfg["corpus"]["sources"]


def test_defaults_are_filled():
    cfg = validate_config(TINY)
    assert cfg["corpus"]["normalization"] == "NFC"
    assert cfg["corpus"]["sources"][0]["on_decode_error"] == "error"
    assert cfg["tokenizers"][0]["pre_tokenizer"] == "default"
    assert "on_decode_error" not in TINY["corpus"]["sources"][0], "input must not be mutated"


def test_there_are_at_least_twenty_cases():
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED) >= 20


@pytest.mark.parametrize("case_id,mutate,key", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_library_rejects_malformed_config(case_id, mutate, key):
    with pytest.raises(ConfigError) as info:
        validate_config(_mutated(mutate))
    assert key in str(info.value), str(info.value)


def test_invalid_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpus: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)


def _snakemake_rejects(case, tmp_path: Path) -> str | None:
    """Run the real CLI on one malformed config; return a failure description or None."""
    case_id, mutate, key = case
    case_dir = tmp_path / case_id
    workdir = case_dir / "work"
    workdir.mkdir(parents=True)
    cfg_file = case_dir / "config.yaml"
    cfg_file.write_text(yaml.safe_dump(_mutated(mutate)))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(cfg_file),
            "--cores",
            "1",
            "tokenizers",
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return f"{case_id}: snakemake exited 0"
    if "Invalid configuration" not in out or key not in out:
        return f"{case_id}: message does not name {key!r}:\n{out[-1500:]}"
    if (workdir / "results").exists() or "rule prepare_corpus" in out:
        return f"{case_id}: a job was scheduled or an output written"
    return None


# One case per kind of check the Snakefile must surface: an unknown key at the top and
# nested, a type, a range, a cross-key check (duplicate names), a source-specific check
# (hub id without `hub: true`). Every case in MALFORMED goes through the same
# `validate_config` call that the Snakefile makes (test_library_rejects_malformed_config);
# the CLI cases prove that wiring: the error reaches the user before any job.
CLI_CASES = [
    "unknown-top-level-key",
    "unknown-source-key",
    "vocab-size-string",
    "threads-zero",
    "duplicate-tokenizer-names",
    "hf-hub-id-without-hub-flag",
]


def test_snakemake_rejects_malformed_configs_before_any_job(tmp_path):
    """The real CLI: non-zero exit, the key in the message, nothing scheduled or written."""
    cases = [case for case in MALFORMED if case[0] in CLI_CASES]
    assert len(cases) == len(CLI_CASES)
    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = [f for f in pool.map(lambda c: _snakemake_rejects(c, tmp_path), cases) if f]
    assert not failures, "\n".join(failures)


def test_config_reference_is_up_to_date():
    from tokattn.common.schema_doc import schema_markdown

    doc = (REPO / "docs" / "config.md").read_text()
    assert doc == schema_markdown(), (
        "regenerate: python -m tokattn.common.schema_doc > docs/config.md"
    )
    assert "`tokenizers[].vocab_size`" in doc


def test_resolved_config_does_not_depend_on_key_order():
    """Reordering a config file's keys must give the same params (else Snakemake reruns)."""

    def reverse_keys(obj):
        if isinstance(obj, dict):
            return {k: reverse_keys(obj[k]) for k in reversed(list(obj))}
        if isinstance(obj, list):
            return [reverse_keys(v) for v in obj]
        return obj

    a = validate_config(TINY)
    b = validate_config(reverse_keys(TINY))
    assert repr(a) == repr(b)
    assert repr(a["corpus"]) == repr(b["corpus"])

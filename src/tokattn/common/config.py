"""Experiment config: JSON-schema validation with defaults, plus cross-key checks.

Kept free of heavy imports (no torch, no transformers): the Snakefile calls it before
any job is scheduled, and every `snakemake` invocation pays for its import time.
Reading YAML files (strictly) and merging them is config_files.py (`load_config`); the
Markdown reference generated from the schema is schema_doc.py.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "config" / "schema.yaml"
LOCAL_DATASET_BUILDERS = frozenset({"text", "json", "parquet", "csv"})


class ConfigError(ValueError):
    """A config value is wrong; the message names the key."""


def _key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _is_strict_integer(checker, instance) -> bool:
    # JSON Schema (draft 6+) counts 1000.0 as an integer; every size here is used as a
    # Python int (slices, shapes, seeds), where a float fails far from the config.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _extend_with_defaults(validator_class):
    """Return a validator class that fills `default` values while validating."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(prop, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(
        validator_class,
        {"properties": set_defaults},
        type_checker=validator_class.TYPE_CHECKER.redefine("integer", _is_strict_integer),
    )


_DefaultFillingValidator = _extend_with_defaults(jsonschema.Draft7Validator)


def load_schema(schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Return the config JSON schema as a dict."""
    with open(schema_path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _describe(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        # Name the unexpected key itself, not only its parent.
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            return f"config key '{_key_path([*path, extra[0]])}': unknown key (allowed: " + (
                ", ".join(sorted(error.schema.get("properties", {}))) + ")"
            )
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"config key '{_key_path([*path, missing])}': required key is missing"
    return f"config key '{_key_path(path)}': {error.message}"


def _check_finite(obj: Any, path: list) -> None:
    """Raise ConfigError naming the first key whose value is a non-finite number."""
    if isinstance(obj, float) and not math.isfinite(obj):
        # JSON Schema's minimum/maximum never fire on NaN, and .inf passes every lower
        # bound: a training lr of .inf would give an all-NaN model with every rule exit 0.
        raise ConfigError(f"config key '{_key_path(path)}': {obj} is not a finite number")
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            _check_finite(value, [*path, key])
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _check_finite(value, [*path, i])


def validate_config(config: Mapping, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Return a validated copy of `config` with defaults filled; raise ConfigError naming the key."""
    if not isinstance(config, Mapping) or not config:
        raise ConfigError(
            "config is empty: pass --configfile config/tiny.yaml or config/config.yaml"
        )
    _check_finite(config, [])
    resolved = copy.deepcopy(dict(config))
    schema = load_schema(schema_path)
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(resolved), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_describe(best))
    _check_cross_keys(resolved)
    return _with_sorted_keys(resolved)


def _with_sorted_keys(obj: Any) -> Any:
    """Return `obj` with every mapping's keys sorted (lists keep their order).

    Snakemake compares rule params by their serialisation: without this, reordering the
    keys of a config file would rerun every stage whose params hold a config section.
    """
    if isinstance(obj, Mapping):
        return {k: _with_sorted_keys(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_with_sorted_keys(v) for v in obj]
    return obj


def _unique(items: list[Mapping], what: str) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = item["name"]
        if name in seen:
            raise ConfigError(
                f"config key '{what}[{i}].name': duplicate name {name!r} (also {what}[{seen[name]}])"
            )
        seen[name] = i


def _check_cross_keys(config: dict) -> None:
    corpus = config["corpus"]
    _unique(corpus["sources"], "corpus.sources")
    _unique(config["tokenizers"], "tokenizers")
    if corpus["val_fraction"] + corpus["test_fraction"] >= 1:
        raise ConfigError(
            "config key 'corpus.test_fraction': val_fraction + test_fraction must be < 1"
        )
    for i, src in enumerate(corpus["sources"]):
        key = f"corpus.sources[{i}]"
        if src["type"] == "builtin":
            if "builtin" not in src:
                raise ConfigError(f"config key '{key}.builtin': required for type builtin")
            for k in ("path", "data_files", "language_field", "config_name"):
                if k in src:
                    raise ConfigError(f"config key '{key}.{k}': only valid for type hf")
        else:
            if "builtin" in src:
                raise ConfigError(f"config key '{key}.builtin': only valid for type builtin")
            if "path" not in src:
                raise ConfigError(f"config key '{key}.path': required for type hf")
            local = src["path"] in LOCAL_DATASET_BUILDERS
            if local and "data_files" not in src:
                raise ConfigError(
                    f"config key '{key}.data_files': required with local builder {src['path']!r}"
                )
            if not local and not src["hub"]:
                raise ConfigError(
                    f"config key '{key}.hub': path {src['path']!r} is not a local builder "
                    f"({', '.join(sorted(LOCAL_DATASET_BUILDERS))}); set hub: true to fetch it "
                    "from the Hugging Face hub"
                )
            if src["language"] == "auto" and "language_field" not in src:
                raise ConfigError(
                    f"config key '{key}.language': 'auto' needs language_field for type hf"
                )
    for i, tok in enumerate(config["tokenizers"]):
        key = f"tokenizers[{i}]"
        if tok["kind"] not in ("byte", "char") and "vocab_size" not in tok:
            raise ConfigError(f"config key '{key}.vocab_size': required for kind {tok['kind']!r}")
        if tok["kind"] in ("byte", "bytelevel_bpe") and tok["pre_tokenizer"] not in (
            "default",
            "bytelevel",
        ):
            raise ConfigError(
                f"config key '{key}.pre_tokenizer': kind {tok['kind']!r} needs bytelevel"
            )
        # Byte-fallback kinds hold 4 special + 256 byte tokens before any learnt one.
        byte_fallback = tok["kind"] in ("char", "bpe", "unigram")
        if (
            byte_fallback
            and tok["pre_tokenizer"] != "bytelevel"
            and tok.get("vocab_size", 261) <= 260
        ):
            raise ConfigError(
                f"config key '{key}.vocab_size': must exceed 260 for kind {tok['kind']!r} "
                "(4 special + 256 byte-fallback tokens)"
            )
    _check_models(config)
    _check_pretrained(config)


def _check_models(config: dict) -> None:
    """Cross-key checks of `models`, `training` and `seeds` (the training stage)."""
    arms = config.get("models") or []
    if not arms:
        return
    _unique(arms, "models")
    if "training" not in config:
        raise ConfigError("config key 'training': required when models are configured")
    tokenizers = {tok["name"] for tok in config["tokenizers"]}
    names = {arm["name"]: arm for arm in arms}
    for i, arm in enumerate(arms):
        key = f"models[{i}]"
        if arm["tokenizer"] not in tokenizers:
            raise ConfigError(
                f"config key '{key}.tokenizer': {arm['tokenizer']!r} is not a configured "
                f"tokenizer ({', '.join(sorted(tokenizers))})"
            )
        if ("context_tokens" in arm) == ("context_bytes" in arm):
            raise ConfigError(
                f"config key '{key}.context_tokens': give exactly one of context_tokens and "
                "context_bytes"
            )
        if arm["d_model"] % arm["n_heads"] or (arm["d_model"] // arm["n_heads"]) % 2:
            raise ConfigError(
                f"config key '{key}.n_heads': d_model {arm['d_model']} must split into "
                f"{arm['n_heads']} heads of even size (RoPE rotates pairs)"
            )
        n_kv = arm.get("n_kv_heads")
        if n_kv is not None and arm["n_heads"] % n_kv:
            raise ConfigError(
                f"config key '{key}.n_kv_heads': {n_kv} does not divide n_heads {arm['n_heads']}"
            )
        if arm.get("byte_branch") is not None:
            _check_byte_branch(arm, key)
        match = arm.get("match_non_embedding_params")
        if isinstance(match, str):
            if match not in names:
                raise ConfigError(
                    f"config key '{key}.match_non_embedding_params': {match!r} is not a model arm"
                )
            if match == arm["name"] or names[match].get("match_non_embedding_params") is not None:
                raise ConfigError(
                    f"config key '{key}.match_non_embedding_params': {match!r} must name "
                    "another arm that keeps its own d_ff (no chains)"
                )
    training = config["training"]
    if training["batch_size"] % training["micro_batch_size"]:
        raise ConfigError(
            f"config key 'training.batch_size': {training['batch_size']} is not a multiple of "
            f"micro_batch_size {training['micro_batch_size']}"
        )
    if training["min_lr"] > training["lr"]:
        raise ConfigError(
            f"config key 'training.min_lr': {training['min_lr']} exceeds lr {training['lr']}"
        )


def _check_byte_branch(arm: Mapping, key: str) -> None:
    """Cross-key checks of one arm's `byte_branch` (sizes that must divide, layer indices)."""
    branch = arm["byte_branch"]
    key = f"{key}.byte_branch"
    d1 = branch["d_model"]
    if d1 % branch["n_heads"] or (d1 // branch["n_heads"]) % 2:
        raise ConfigError(
            f"config key '{key}.n_heads': byte d_model {d1} must split into "
            f"{branch['n_heads']} heads of even size (RoPE rotates pairs)"
        )
    if d1 % branch["cross_heads"]:
        raise ConfigError(
            f"config key '{key}.cross_heads': byte d_model {d1} is not divisible by "
            f"{branch['cross_heads']} cross-attention heads"
        )
    spec = branch["cross_layers"]
    n_layers = arm["n_layers"]
    if isinstance(spec, Mapping) and spec["first_k"] > n_layers:
        raise ConfigError(
            f"config key '{key}.cross_layers.first_k': {spec['first_k']} exceeds n_layers "
            f"{n_layers}"
        )
    if isinstance(spec, list):
        bad = [i for i in spec if i >= n_layers]
        if bad:
            raise ConfigError(
                f"config key '{key}.cross_layers': layer {bad[0]} does not exist (n_layers "
                f"{n_layers}: indices 0..{n_layers - 1})"
            )


def _check_pretrained(config: dict) -> None:
    """Cross-key checks of `pretrained` arms (the attention stage)."""
    arms = config.get("pretrained") or []
    _unique(arms, "pretrained")
    trained = {arm["name"] for arm in config.get("models") or []}
    for i, arm in enumerate(arms):
        if arm["name"] in trained:
            raise ConfigError(
                f"config key 'pretrained[{i}].name': {arm['name']!r} is also a `models` arm"
            )
        if arm.get("revision") and not arm["hub"]:
            raise ConfigError(f"config key 'pretrained[{i}].revision': only valid with hub: true")

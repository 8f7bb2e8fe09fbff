"""Config files: strict YAML reading (duplicate keys are errors), merging in order, `load_config`.

The one loader of the project: the Snakefile (rules/common.smk), `tokattn config check`
and the tests read config files through `load_config`, which validates with config.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from tokattn.common.config import SCHEMA_PATH, ConfigError, validate_config


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # keys merged in with `<<` may be overridden on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: construct_mapping reports it
                    continue
                if first is not None:
                    raise ConfigError(
                        f"{self.name}, line {key_node.start_mark.line + 1}, column "
                        f"{key_node.start_mark.column + 1}: duplicate key "
                        f"{key!r} (first given on line {first}); YAML would silently keep "
                        "only the last value"
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict:
    """Return the raw (unvalidated) mapping of a YAML config file; raise ConfigError naming
    the file, and the line and column of a syntax error or a duplicate key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path}: not valid UTF-8 at byte offset {exc.start}"
        ) from None
    loader = _StrictLoader(text)
    loader.name = f"config file {path}"
    try:
        raw = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(filter(None, (exc.context, exc.problem)))
        raise ConfigError(f"config file {path}{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {path}: the top level must be a mapping of keys, not {type(raw).__name__}"
        )
    return raw


def merge_config(base: dict, override: Mapping) -> dict:
    """Merge `override` into `base` in place (nested mappings key by key, like Snakemake's
    --configfile / --config merging) and return `base`."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(
    paths: str | Path | Iterable[str | Path],
    overrides: Mapping | None = None,
    schema_path: str | Path = SCHEMA_PATH,
) -> dict:
    """Return the validated config read from one or more YAML files, merged in order.

    The one loader of the project: the Snakefile (rules/common.smk), `tokattn config
    check` and the tests read config files through it. `overrides` (Snakemake's --config
    KEY=VALUE) are merged last.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    raw: dict = {}
    for path in paths:
        merge_config(raw, read_config_file(path))
    merge_config(raw, overrides or {})
    return validate_config(raw, schema_path)

"""`tokattn config check FILE [FILE ...]`: validate config files as snakemake would merge them."""

from __future__ import annotations

import sys


def check_config(paths: list[str]) -> int:
    """Validate config files (merged in order, as --configfile does); print the result."""
    from tokattn.common.config import ConfigError
    from tokattn.common.config_files import load_config

    try:
        config = load_config(paths)
    except ConfigError as err:
        print(f"tokattn config: {err}", file=sys.stderr)
        return 1
    arms = len(config.get("models") or [])
    print(f"{', '.join(paths)}: valid ({len(config['tokenizers'])} tokenizers, {arms} model arms)")
    return 0

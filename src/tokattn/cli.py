"""The `tokattn` command: `tokattn view ...` builds a viewer page, `tokattn store ...` inspects
stores, `tokattn config check FILE...` validates config files."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch `tokattn view|store|config ...` to its command; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    usage = (
        "usage: tokattn view A.h5 [B.h5 ...] -o out.html [--probe ID] [--tokenizer DIR]\n"
        "       tokattn store list FILE\n"
        "       tokattn store show FILE PROBE LAYER HEAD\n"
        "       tokattn config check FILE [FILE ...]"
    )
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "view":
        from tokattn.viewer.__main__ import main as view_main

        return view_main(rest, prog="tokattn view")
    if command == "store":
        from tokattn.attention_store_cli import main as store_main

        return store_main(rest)
    if command == "config" and rest[:1] == ["check"] and rest[1:]:
        return _check_config(rest[1:])
    print(f"tokattn: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


def _check_config(paths: list[str]) -> int:
    """Validate config files (merged in order, as --configfile does); print the result."""
    from tokattn.config import ConfigError, load_config

    try:
        config = load_config(paths)
    except ConfigError as err:
        print(f"tokattn config: {err}", file=sys.stderr)
        return 1
    arms = len(config.get("models") or [])
    print(f"{', '.join(paths)}: valid ({len(config['tokenizers'])} tokenizers, {arms} model arms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `tokattn` command: `tokattn view ...` builds a viewer page, `tokattn store ...` inspects stores."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch `tokattn view|store ...` to the viewer or the attention-store CLI; return the status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    usage = (
        "usage: tokattn view A.h5 [B.h5 ...] -o out.html [--probe ID] [--tokenizer DIR]\n"
        "       tokattn store list FILE\n"
        "       tokattn store show FILE PROBE LAYER HEAD"
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
    print(f"tokattn: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

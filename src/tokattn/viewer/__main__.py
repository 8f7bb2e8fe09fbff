"""CLI: ``python -m tokattn.viewer A.h5 [B.h5 ...] -o out.html [--probe ID ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tokattn.attention.store_format import AttentionStoreError


def parser(prog: str = "python -m tokattn.viewer") -> argparse.ArgumentParser:
    """Return the argument parser of the viewer CLI."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Build a self-contained attention viewer page from attention stores "
        "(several stores: comparison mode).",
    )
    p.add_argument("stores", nargs="+", type=Path, help="attention store(s) (.h5)")
    p.add_argument("-o", "--output", type=Path, required=True, help="HTML file to write")
    p.add_argument(
        "--probe", action="append", dest="probes", metavar="ID", help="probe id (repeatable)"
    )
    p.add_argument(
        "--tokenizer",
        action="append",
        dest="tokenizers",
        type=Path,
        metavar="DIR",
        help="tokenizer folder per store, in store order, to decode logit-lens tokens "
        "(default: the store's model_path, else ids are shown)",
    )
    p.add_argument("--title", default="", help="page title")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m tokattn.viewer") -> int:
    """Run the viewer CLI; return the exit status."""
    args = parser(prog).parse_args(argv)
    from tokattn.viewer import build_viewer

    if args.tokenizers and len(args.tokenizers) != len(args.stores):
        print(
            f"error: {len(args.tokenizers)} --tokenizer for {len(args.stores)} stores "
            "(give one per store, in order)",
            file=sys.stderr,
        )
        return 2
    try:
        out = build_viewer(args.stores, args.output, args.probes, args.tokenizers, args.title)
    except (AttentionStoreError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

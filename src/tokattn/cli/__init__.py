"""The `tokattn` command (console script `tokattn.cli:main`): one module per subcommand.

`tokattn view ...` builds a viewer page (tokattn.viewer.__main__), `tokattn store ...`
inspects stores (cli/store.py), `tokattn config check FILE...` validates config files
(cli/config.py).
"""

from __future__ import annotations

import argparse
import sys

from tokattn import __version__

COMMANDS = {
    "view": "build a self-contained attention viewer page (HTML, opens from disk) from one "
    "or more attention stores; several stores are compared word by word",
    "store": "inspect an attention store (.h5): `list` its probes, `show` one attention map "
    "(0-based layer and head, or the mean over heads) with row entropies in nats",
    "config": "`config check FILE [FILE ...]`: validate config files (merged in order, as "
    "snakemake's --configfile does) and name the first bad key, line and column",
}


def parser() -> argparse.ArgumentParser:
    """Return the top-level parser (`--help`, `--version`, the subcommand and its arguments)."""
    epilog = "commands:\n" + "\n".join(f"  {name:<6} {text}" for name, text in COMMANDS.items())
    epilog += (
        "\n\nexamples:\n"
        "  tokattn view results/tiny/attention/byte/seed0.h5 results/tiny/attention/bpe_1k/seed0.h5 "
        "-o compare.html\n"
        "  tokattn store list results/tiny/attention/byte/seed0.h5\n"
        "  tokattn store show results/tiny/attention/byte/seed0.h5 simple-en-0 1 mean\n\n"
        "`tokattn COMMAND --help` describes each command's arguments."
    )
    p = argparse.ArgumentParser(
        prog="tokattn",
        description="Tools around tokattn's attention stores (results/tiny/attention/{model}/"
        "seed{seed}.h5). The pipeline itself runs with snakemake (see README).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("command", choices=list(COMMANDS), help="view, store or config")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's arguments")
    return p


def main(argv: list[str] | None = None) -> int:
    """Dispatch `tokattn view|store|config ...` to its command; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        return int(exc.code or 0)
    if args.command == "view":
        from tokattn.viewer.__main__ import main as view_main

        return _run(view_main, args.args, prog="tokattn view")
    if args.command == "config":
        if args.args[:1] != ["check"] or not args.args[1:]:
            print("usage: tokattn config check FILE [FILE ...]", file=sys.stderr)
            return 2
        from tokattn.cli.config import check_config

        return check_config(args.args[1:])
    from tokattn.cli.store import main as store_main

    return _run(store_main, args.args, prog="tokattn store")


def _run(command, argv: list[str], prog: str) -> int:
    try:
        return command(argv, prog=prog)
    except SystemExit as exc:  # the subcommand's --help (0) or usage error (2)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        raise  # a message (e.g. layer out of range): printed by the interpreter, status 1

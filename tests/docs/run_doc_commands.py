"""Run documented commands cheaply, in one process: `python run_doc_commands.py JOBS OUT`.

JOBS is a JSON list of {"kind", "argv"}; OUT gets one JSON result per job ({"ok",
"error", "log", "seconds"}). Run from the working directory the commands are meant for.

- kind "snakemake": `snakemake ARGV` in this process (one import for every dry run; the
  caller adds `-n`); stdout and stderr go to the job's log file.
- kind "script": `python ARGV` up to its argument parsing only: the script runs with
  `argparse.ArgumentParser.parse_args` (or `parse_known_args`) stopped right after a
  successful parse, so a
  benchmark or planner is never started.
- kind "lm_eval": lm-evaluation-harness's own command-line parser on ARGV.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
import traceback
from pathlib import Path


class Parsed(Exception):
    """Raised by the patched parse_args once the arguments parsed."""


def _snakemake(argv: list[str]) -> None:
    from snakemake.cli import args_to_api, parse_args

    parser, args = parse_args(argv)
    if not args_to_api(args, parser):
        raise RuntimeError("snakemake reported failure")


def _script(argv: list[str]) -> None:
    path = Path(argv[0])
    text = path.read_text("utf-8")
    if "parse_args(" not in text and "parse_known_args(" not in text:
        raise RuntimeError(f"{path} has no argparse parse_args(): it would run for real")
    original = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args
    inside_parse_args = []

    def parse_only(self, args=None, namespace=None):
        inside_parse_args.append(True)  # parse_args calls parse_known_args, then checks extras
        try:
            parsed = original[0](self, args, namespace)
        finally:
            inside_parse_args.pop()
        raise Parsed(parsed)

    def parse_known_only(self, args=None, namespace=None):
        parsed = original[1](self, args, namespace)
        if inside_parse_args:
            return parsed
        raise Parsed(parsed)

    argparse.ArgumentParser.parse_args = parse_only
    argparse.ArgumentParser.parse_known_args = parse_known_only
    sys.argv = list(argv)
    try:
        runpy.run_path(str(path), run_name="__main__")
    except Parsed:
        return
    finally:
        argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = original
    raise RuntimeError(f"{path} finished without parsing its arguments")


def _lm_eval(argv: list[str]) -> None:
    from lm_eval._cli import HarnessCLI

    sys.argv = ["lm_eval", *argv]
    args = HarnessCLI().parse_args()
    print(json.dumps({k: v for k, v in vars(args).items() if k != "func"}, default=str))


RUNNERS = {"snakemake": _snakemake, "script": _script, "lm_eval": _lm_eval}


def main() -> int:
    jobs = json.loads(Path(sys.argv[1]).read_text("utf-8"))
    out_path = Path(sys.argv[2])
    results = []
    saved = os.dup(1), os.dup(2)
    for i, job in enumerate(jobs):
        log = out_path.with_name(f"{out_path.stem}.{i}.log")
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.perf_counter()
        with open(log, "w") as fh:
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
            try:
                RUNNERS[job["kind"]](job["argv"])
                ok, error = True, ""
            except SystemExit as exc:  # argparse: usage error (2) or --help (0)
                ok, error = exc.code in (0, None), f"exit status {exc.code}"
            except BaseException as exc:
                ok, error = False, "".join(traceback.format_exception_only(exc)).strip()
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
        seconds = round(time.perf_counter() - start, 2)
        results.append({"ok": ok, "error": error, "log": str(log), "seconds": seconds})
    out_path.write_text(json.dumps(results), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time `snakemake -n` on a generated large experiment: ARMS model arms x SEEDS seeds.

    python benchmarks/bench_dryrun.py                    # 100 arms x 3 seeds, target 15 s
    python benchmarks/bench_dryrun.py --arms 300 --profile profiles/slurm

The config is config/tiny.yaml with its tokenizer list grown to ARMS tokenizers (every
kind in turn) and, when the workflow has a training stage, one model arm per tokenizer
trained with SEEDS seeds. Prints the number of jobs and the wall time of the dry run (a
fresh process each time, as a user runs it); exits 1 when the best time misses --target-s.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
KINDS = ["bpe", "bytelevel_bpe", "unigram", "wordpiece", "char", "byte"]


def scale_config(base: dict, schema: dict, arms: int, seeds: int) -> dict:
    """Return `base` with `arms` tokenizers and, if the schema has models, `arms` x `seeds` runs."""
    cfg = copy.deepcopy(base)
    cfg["tokenizers"] = [
        {"name": f"tok{i:03d}", "kind": KINDS[i % len(KINDS)]}
        | ({} if KINDS[i % len(KINDS)] == "byte" else {"vocab_size": 500 + 10 * i})
        for i in range(arms)
    ]
    props = schema.get("properties", {})
    if "models" in props and base.get("models"):
        template = base["models"][0]
        cfg["models"] = [
            {**copy.deepcopy(template), "name": f"arm{i:03d}", "tokenizer": f"tok{i:03d}"}
            for i in range(arms)
        ]
        seed_key = next((k for k in ("seeds", "seed") if k in props), None)
        training = next((k for k in ("training", "train") if k in props), None)
        if seed_key:
            cfg[seed_key] = list(range(seeds))
        elif training and "seeds" in schema["properties"][training].get("properties", {}):
            cfg.setdefault(training, {})["seeds"] = list(range(seeds))
        else:
            raise SystemExit("bench_dryrun: cannot find where the config lists seeds")
    return cfg


def dry_run(
    config_path: Path, workdir: Path, profile: str | None, extra: list[str] | None = None
) -> tuple[float, float, int, str]:
    """Return (wall s, CPU s, job count, output) of one `snakemake -n` process.

    CPU time (user + sys of the child) is reported beside wall time because it moves
    less when other processes share the cores.
    """
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile")]
    cmd += ["-d", str(workdir), "--configfile", str(config_path)]
    if profile:
        cmd += ["--profile", profile]
    cmd += extra or []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"bench_dryrun: snakemake -n failed:\n{out[-4000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", out, flags=re.M)
    return seconds, cpu_s, int(total.group(1)) if total else 0, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=100, help="model arms (and tokenizers)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm")
    parser.add_argument("--repeat", type=int, default=3, help="dry runs; the best counts")
    parser.add_argument("--target-s", type=float, default=15.0, help="pass/fail threshold")
    parser.add_argument("--base", default=str(REPO / "config" / "tiny.yaml"))
    parser.add_argument("--profile", default=None, help="e.g. profiles/slurm")
    parser.add_argument("--keep", action="store_true", help="print and keep the temp dir")
    parser.add_argument(
        "--quiet", action="store_true", help="time `snakemake -n --quiet rules` (no job listing)"
    )
    args = parser.parse_args(argv)

    base = yaml.safe_load(Path(args.base).read_text())
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    cfg = scale_config(base, schema, args.arms, args.seeds)
    tmp = Path(tempfile.mkdtemp(prefix="tokattn-bench-"))
    config_path = tmp / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    times, cpu_times = [], []
    for _ in range(args.repeat):
        extra = ["--quiet", "rules"] if args.quiet else []
        seconds, cpu_s, jobs, _out = dry_run(config_path, tmp, args.profile, extra)
        times.append(seconds)
        cpu_times.append(cpu_s)
    best = min(times)
    shape = (
        f"{args.arms} arms x {args.seeds} seeds" if "models" in cfg else f"{args.arms} tokenizers"
    )
    print(
        f"snakemake -n{' --quiet rules' if args.quiet else ''}, {shape}: {jobs} jobs, best {best:.2f} s of "
        f"{', '.join(f'{t:.2f}' for t in times)} s wall (target <= {args.target_s:.0f} s), "
        f"CPU {min(cpu_times):.2f} s; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores" + (f", profile {args.profile}" if args.profile else "")
    )
    if args.keep:
        print(f"config and workdir: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if best <= args.target_s else 1


if __name__ == "__main__":
    sys.exit(main())

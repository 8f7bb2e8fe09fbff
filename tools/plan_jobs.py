"""List the jobs an experiment will submit, per stage, with their resource requests.

    python tools/plan_jobs.py --configfile config/config.yaml [--profile profiles/slurm]

Runs `snakemake -n` (nothing is executed or submitted), reads every planned job's
threads and resources, and prints a Markdown table per rule: job count, CPUs, memory,
runtime limit, GPUs, and the upper bounds of CPU- and GPU-hours (jobs x request x
runtime limit), so GPU time can be estimated before submitting. Pass the profile you
will run with: its default-resources and set-resources change the requests.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rule_stages() -> dict[str, str]:
    """Rule name -> the rules/*.smk file (stage) that defines it, in the Snakefile's order."""
    included = re.findall(r'^include: "rules/(\w+)\.smk"', (REPO / "Snakefile").read_text(), re.M)
    paths = sorted(
        (REPO / "rules").glob("*.smk"),
        key=lambda p: (included.index(p.stem) if p.stem in included else len(included), p.stem),
    )
    stages = {}
    for path in paths:
        for name in re.findall(r"^rule (\w+):", path.read_text(), flags=re.M):
            stages[name] = path.stem
    return stages


def parse_resources(text: str) -> dict[str, str]:
    """`mem_mb=200, mem=200 MB, gpu=2` -> {'mem_mb': '200', 'mem': '200 MB', 'gpu': '2'}."""
    return dict(re.findall(r"(\w+)=([^,]*)", text))


def planned_jobs(dry_run_output: str) -> list[dict]:
    """One dict (rule, group, threads, resources, has_output) per job of a `snakemake -n` run."""
    jobs, group, n_groups = [], None, 0
    for line in dry_run_output.splitlines():
        if m := re.search(r"\] Group job (\S+) ", line):
            n_groups += 1
            group = (m.group(1), n_groups)
            continue
        if m := re.match(r"(\s*)(local)?rule (\w+):$", line):
            # Jobs of a group job are indented under its header; a flush rule is alone.
            jobs.append(
                {
                    "rule": m.group(3),
                    "group": group if m.group(1) else None,
                    "threads": 1,
                    "resources": {},
                    "has_output": False,
                }
            )
            group = group if m.group(1) else None
            continue
        if not jobs:
            continue
        if m := re.match(r"\s+threads: (\d+)$", line):
            jobs[-1]["threads"] = int(m.group(1))
        elif m := re.match(r"\s+resources: (.+)$", line):
            jobs[-1]["resources"] = parse_resources(m.group(1))
        elif re.match(r"\s+output: ", line):
            # Target rules (inputs only) run inside Snakemake, never as SLURM jobs.
            jobs[-1]["has_output"] = True
    return jobs


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "<TBD>") else None
    except ValueError:
        return None


def _span(values: list) -> str:
    vals = sorted({v for v in values if v is not None})
    if not vals:
        return "-"
    fmt = [f"{v:g}" if isinstance(v, float) else str(v) for v in (vals[0], vals[-1])]
    return fmt[0] if len(vals) == 1 else f"{fmt[0]}-{fmt[1]}"


def table(jobs: list[dict], stages: dict[str, str]) -> str:
    """Markdown table: one row per rule, then totals and the number of SLURM submissions."""
    jobs = [j for j in jobs if j["has_output"]]
    by_rule = defaultdict(list)
    for job in jobs:
        by_rule[job["rule"]].append(job)
    rows = [
        "| stage | rule | jobs | cpus | mem_mb | runtime (min) | gpus | partition | group "
        "| CPU-h (max) | GPU-h (max) |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    total_cpu_h = total_gpu_h = 0.0
    order = list(stages)
    for rule in sorted(by_rule, key=lambda r: (order.index(r) if r in order else len(order), r)):
        group = by_rule[rule]
        res = [j["resources"] for j in group]
        cpus = [
            _num(r.get("cpus_per_task")) or float(j["threads"])
            for r, j in zip(res, group, strict=True)
        ]
        runtime = [_num(r.get("runtime")) for r in res]
        gpus = [_num(r.get("gpu")) or 0.0 for r in res]
        cpu_h = sum(c * (t or 0) / 60 for c, t in zip(cpus, runtime, strict=True))
        gpu_h = sum(g * (t or 0) / 60 for g, t in zip(gpus, runtime, strict=True))
        total_cpu_h += cpu_h
        total_gpu_h += gpu_h
        groups = sorted({j["group"][0] for j in group if j["group"]})
        rows.append(
            f"| {stages.get(rule, '?')} | {rule} | {len(group)} | {_span(cpus)} "
            f"| {_span([_num(r.get('mem_mb')) for r in res])} | {_span(runtime)} "
            f"| {_span(gpus)} | {_span([r.get('slurm_partition') or None for r in res])} "
            f"| {', '.join(groups) or '-'} | {cpu_h:.1f} | {gpu_h:.1f} |"
        )
    submissions = len({j["group"] for j in jobs if j["group"]}) + sum(
        1 for j in jobs if not j["group"]
    )
    rows.append(
        f"| **total** | | {len(jobs)} | | | | | | | {total_cpu_h:.1f} | {total_gpu_h:.1f} |"
    )
    return (
        "\n".join(rows)
        + f"\n\n{len(jobs)} jobs in {submissions} SLURM submissions (grouped jobs share one)."
        + " CPU-h and GPU-h are upper bounds: jobs x request x runtime limit."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--profile", default=None, help="e.g. profiles/slurm")
    parser.add_argument("--directory", "-d", default=None, help="workdir (default: a temp dir)")
    parser.add_argument("targets", nargs="*", help="rules or files (default: all)")
    args = parser.parse_args(argv)

    import tempfile

    workdir = args.directory or tempfile.mkdtemp(prefix="tokattn-plan-")
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile")]
    # --cores: a dry run caps every job's threads at the local core count otherwise.
    cmd += ["-d", workdir, "--cores", "1024"]
    if args.profile:
        cmd += ["--profile", args.profile]
    # Targets before --configfile, which takes several values.
    cmd += [*args.targets, "--configfile", str(Path(args.configfile).resolve())]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(out[-4000:], file=sys.stderr)
        return proc.returncode
    print(table(planned_jobs(out), rule_stages()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

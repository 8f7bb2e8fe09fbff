"""List the jobs an experiment will submit, per stage, with their resource requests.

    python tools/plan_jobs.py --configfile config/config.yaml [--profile profiles/slurm]
    python tools/plan_jobs.py --configfile ... --profile profiles/slurm --check
    snakemake --profile profiles/slurm $(python tools/plan_jobs.py --profile profiles/slurm \
        --configfile ... --fit-groups) --configfile ...

Runs `snakemake -n` (nothing is executed or submitted), reads every planned job's
threads and resources, and prints a Markdown table per rule: job count, CPUs, memory,
runtime limit, GPUs, and the upper bounds of CPU- and GPU-hours (jobs x request x
runtime limit), so GPU time can be estimated before submitting. Pass the profile you
will run with: its default-resources and set-resources change the requests. Arguments
it does not know (`--group-components analysis=2`, `--set-resources ...`) go to Snakemake.

--check compares every SLURM submission (a job, or a group job with the sum of its
side-by-side jobs) with what its partition offers: the largest node's CPUs, memory and
GPUs (capped by MaxCPUsPerNode / MaxMemPerNode) and MaxTime, read from `scontrol show
partition` and `scontrol show node`, or from the plugin's partition file
(--partitions FILE or $SNAKEMAKE_SLURM_PARTITIONS: max_threads, max_mem_mb, max_gpu,
max_runtime). A submission that exceeds them would wait in the queue for ever (SLURM
leaves it PENDING, Reason=PartitionConfig); the check names each one with the limit it
exceeds, prints the group sizes that fit, and exits 3.

--fit-groups prints only the `--group-components` arguments that make every group job
fit its partition (the profile's sizes, reduced where a node is too small), for the
Snakemake command line; it exits 3 if a job does not fit even alone.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
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


# --- what the partitions offer ---------------------------------------------------------

EXIT_UNSCHEDULABLE = 3


@dataclass
class PartitionLimits:
    """The most one job can get in a partition (on its largest node); None: no limit."""

    name: str
    cpus: float | None = None
    mem_mb: float | None = None
    gpus: float | None = None
    runtime_min: float | None = None
    default: bool = False


def _slurm_minutes(value: str) -> float | None:
    """SLURM time limit (`2-00:00:00`, `1:00:00`, `30:00`, `60`, `UNLIMITED`) -> minutes."""
    if value in ("", "UNLIMITED", "INFINITE", "NONE"):
        return None
    days, _, clock = value.rpartition("-")
    parts = [float(p) for p in clock.split(":")]
    hours, minutes, seconds = ([0.0] * (3 - len(parts)) + parts)[-3:]
    if len(parts) == 1:
        hours, minutes, seconds = 0.0, parts[0], 0.0
    return float(days or 0) * 1440 + hours * 60 + minutes + seconds / 60


def _gres_gpus(gres: str) -> float:
    """`gpu:4`, `gpu:a100:4(S:0-1)`, `gpu:a100:2,gpu:v100:2` -> 4."""
    return float(sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres)))


def _scontrol(*args: str) -> list[dict[str, str]]:
    try:
        proc = subprocess.run(
            ["scontrol", "-o", "show", *args], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SystemExit(
            f"plan_jobs: cannot read the partitions (scontrol show {args[0]}): {err}"
        ) from err
    if proc.returncode != 0:
        raise SystemExit(
            f"plan_jobs: cannot read the partitions (scontrol show {args[0]}): "
            f"{proc.stderr.strip()}; pass --partitions FILE instead"
        )
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in proc.stdout.splitlines()]


def slurm_partitions() -> dict[str, PartitionLimits]:
    """Limits per partition from the cluster: `scontrol show partition` and `show node`."""
    nodes = _scontrol("node")
    limits = {}
    for part in _scontrol("partition"):
        name = part.get("PartitionName")
        if not name:
            continue
        members = [n for n in nodes if name in n.get("Partitions", "").split(",")]
        cap_cpus = _num(part.get("MaxCPUsPerNode", "").replace("UNLIMITED", ""))
        cap_mem = _num(part.get("MaxMemPerNode", "").replace("UNLIMITED", ""))
        cpus = max((_num(n.get("CPUTot")) or 0 for n in members), default=0.0)
        mem = max((_num(n.get("RealMemory")) or 0 for n in members), default=0.0)
        gpus = max((_gres_gpus(n.get("Gres", "")) for n in members), default=0.0)
        limits[name] = PartitionLimits(
            name,
            cpus=min(cpus, cap_cpus) if cap_cpus else cpus,
            mem_mb=min(mem, cap_mem) if cap_mem else mem,
            gpus=gpus,
            runtime_min=_slurm_minutes(part.get("MaxTime", "")),
            default=part.get("Default") == "YES",
        )
    return limits


def file_partitions(path: Path) -> dict[str, PartitionLimits]:
    """Limits per partition from the SLURM plugin's partition file (partitions.example.yaml)."""
    import yaml

    try:
        parts = (yaml.safe_load(path.read_text()) or {}).get("partitions") or {}
    except (OSError, yaml.YAMLError) as err:
        raise SystemExit(f"plan_jobs: cannot read the partition file {path}: {err}") from err
    limits = {}
    for i, (name, spec) in enumerate(parts.items()):
        limits[name] = PartitionLimits(
            name,
            cpus=_num(str(spec.get("max_threads", ""))),
            mem_mb=_num(str(spec.get("max_mem_mb", ""))),
            gpus=_num(str(spec.get("max_gpu", ""))) or 0.0,
            runtime_min=_num(str(spec.get("max_runtime", ""))),
            default=i == 0,
        )
    return limits


# --- what each submission asks for ------------------------------------------------------


def _request(job: dict) -> dict[str, float]:
    res = job["resources"]
    return {
        "cpus": _num(res.get("cpus_per_task")) or float(job["threads"]),
        "mem_mb": _num(res.get("mem_mb")) or 0.0,
        "gpus": _num(res.get("gpu")) or 0.0,
        "runtime_min": _num(res.get("runtime")) or 0.0,
    }


def submissions(jobs: list[dict]) -> list[dict]:
    """One entry per SLURM job: rules, group (name or None), partition, request.

    A group job asks for what Snakemake asks for it: jobs of one rule run side by side
    (their requests add up), the group's rules run one after another (the largest
    request of a rule counts; runtimes add up).
    """
    out, by_group = [], defaultdict(list)
    for job in jobs:
        if not job["has_output"]:
            continue
        if job["group"]:
            by_group[job["group"]].append(job)
        else:
            out.append({"rules": [job["rule"]], "group": None, "size": 1, "jobs": [job]})
    for (name, _), members in by_group.items():
        per_rule = defaultdict(list)
        for job in members:
            per_rule[job["rule"]].append(job)
        out.append(
            {
                "rules": list(per_rule),
                "group": name,
                "size": max(len(v) for v in per_rule.values()),
                "jobs": members,
            }
        )
    for sub in out:
        per_rule = defaultdict(list)
        for job in sub["jobs"]:
            per_rule[job["rule"]].append(_request(job))
        total = {"cpus": 0.0, "mem_mb": 0.0, "gpus": 0.0, "runtime_min": 0.0}
        for reqs in per_rule.values():
            for key in ("cpus", "mem_mb", "gpus"):
                total[key] = max(total[key], sum(r[key] for r in reqs))
            total["runtime_min"] += max(r["runtime_min"] for r in reqs)
        sub["request"] = total
        # The largest single job of the submission, for sizing its group.
        sub["one"] = {
            key: max(r[key] for reqs in per_rule.values() for r in reqs)
            for key in ("cpus", "mem_mb", "gpus")
        }
        partitions = {j["resources"].get("slurm_partition") or None for j in sub["jobs"]}
        sub["partition"] = sorted(partitions, key=str)[0]
    return out


UNITS = {
    "cpus": ("CPUs", "MaxCPUsPerNode / node CPUs"),
    "mem_mb": ("MB", "MaxMemPerNode / node memory"),
}
UNITS |= {"gpus": ("GPUs", "node GPUs"), "runtime_min": ("min", "MaxTime")}


def exceeded(request: dict[str, float], limits: PartitionLimits) -> list[str]:
    """What of `request` the partition can never give, e.g. ['4 CPUs > 2 (MaxCPUsPerNode ...)']."""
    out = []
    for key, (unit, source) in UNITS.items():
        limit = getattr(limits, key)
        if limit is not None and request[key] > limit:
            out.append(f"{request[key]:g} {unit} > {limit:g} ({source})")
    return out


def fitting_size(sub: dict, limits: PartitionLimits) -> int:
    """The most jobs of the submission's largest kind that fit side by side on one node."""
    size = sub["size"]
    for key in ("cpus", "mem_mb", "gpus"):
        limit, one = getattr(limits, key), sub["one"][key]
        if limit is not None and one > 0:
            size = min(size, int(limit // one))
    return max(size, 1)


def schedule_check(subs: list[dict], parts: dict[str, PartitionLimits]) -> tuple[list[str], dict]:
    """(problems, group sizes that fit): one line per submission that can never start."""
    default = next((p for p in parts.values() if p.default), None)
    problems, sizes = [], {}
    for sub in subs:
        name = sub["partition"] or (default.name if default else None)
        what = (
            f"group {sub['group']} ({sub['size']} x {', '.join(sub['rules'])})"
            if sub["group"]
            else f"rule {sub['rules'][0]}"
        )
        if name not in parts:
            problems.append(f"{what}: partition {name!r} does not exist (have: {', '.join(parts)})")
            continue
        limits = parts[name]
        if sub["group"]:
            fit = fitting_size(sub, limits)
            sizes[sub["group"]] = min(sizes.get(sub["group"], sub["size"]), fit)
        if too_much := exceeded(sub["request"], limits):
            req = sub["request"]
            problems.append(
                f"{what} asks for {req['cpus']:g} CPUs, {req['mem_mb']:g} MB, {req['gpus']:g} GPUs,"
                f" {req['runtime_min']:g} min in partition {name}: never schedulable"
                f" (SLURM would leave it PENDING, Reason=PartitionConfig): {'; '.join(too_much)}"
            )
    return problems, sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--profile", default=None, help="e.g. profiles/slurm")
    parser.add_argument("--snakefile", "-s", default=str(REPO / "Snakefile"))
    parser.add_argument("--directory", "-d", default=None, help="workdir (default: a temp dir)")
    parser.add_argument(
        "--check", action="store_true", help="fail (exit 3) on jobs no partition node can run"
    )
    parser.add_argument(
        "--fit-groups",
        action="store_true",
        help="print only the --group-components arguments that fit the partitions",
    )
    parser.add_argument(
        "--partitions",
        default=os.environ.get("SNAKEMAKE_SLURM_PARTITIONS"),
        help="partition limits file (the SLURM plugin's format); default: ask scontrol",
    )
    parser.add_argument("targets", nargs="*", help="rules or files (default: all)")
    args, snakemake_args = parser.parse_known_args(argv)

    import tempfile

    workdir = args.directory or tempfile.mkdtemp(prefix="tokattn-plan-")
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(Path(args.snakefile).resolve())]
    # --cores: a dry run caps every job's threads at the local core count otherwise.
    cmd += ["-d", workdir, "--cores", "1024"]
    if args.profile:
        cmd += ["--profile", args.profile]
    cmd += snakemake_args
    # Targets before --configfile, which takes several values.
    cmd += [*args.targets, "--configfile", str(Path(args.configfile).resolve())]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(out[-4000:], file=sys.stderr)
        return proc.returncode
    jobs = planned_jobs(out)
    if not (args.check or args.fit_groups):
        print(table(jobs, rule_stages()))
        return 0
    parts = file_partitions(Path(args.partitions)) if args.partitions else slurm_partitions()
    subs = submissions(jobs)
    problems, sizes = schedule_check(subs, parts)
    fit_args = [f"{g}={n}" for g, n in sorted(sizes.items())]
    if args.fit_groups:
        # Only what no group size can fix is an error here: one job alone too large.
        alone = schedule_check(
            [{**sub, "group": None, "request": {**sub["request"], **sub["one"]}} for sub in subs],
            parts,
        )[0]
        if alone:
            print("plan_jobs: jobs that fit no partition even alone:", file=sys.stderr)
            print("\n".join(f"- {line}" for line in alone), file=sys.stderr)
            return EXIT_UNSCHEDULABLE
        print(" ".join(["--group-components", *fit_args]) if fit_args else "")
        return 0
    print(table(jobs, rule_stages()))
    print("\n### Scheduling check\n")
    for part in parts.values():
        limits = ", ".join(
            f"{getattr(part, k):g} {UNITS[k][0]}"
            if getattr(part, k) is not None
            else f"any {UNITS[k][0]}"
            for k in UNITS
        )
        print(
            f"- partition {part.name}{' (default)' if part.default else ''}: at most {limits} per job"
        )
    if fit_args:
        print(f"- group sizes that fit: --group-components {' '.join(fit_args)}")
    if problems:
        print(f"\n{len(problems)} submission(s) can never start:", file=sys.stderr)
        for line in dict.fromkeys(problems):  # one line per kind, with its count
            count = problems.count(line)
            print(f"- {line}{f' ({count} such jobs)' if count > 1 else ''}", file=sys.stderr)
        if fit_args:
            print(f"Group jobs fit with: --group-components {' '.join(fit_args)}", file=sys.stderr)
        return EXIT_UNSCHEDULABLE
    print(f"- all {len(subs)} submissions fit their partitions")
    return 0


if __name__ == "__main__":
    sys.exit(main())

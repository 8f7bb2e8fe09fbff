"""Every command shown in README.md and docs/*.md runs as written (dry runs only).

- `snakemake ...`: a dry run (`-n` added) of the command as written, in a fresh working
  directory that holds the repository's files and no results (`--report FILE` needs
  finished outputs, so that command is checked as a dry run of its DAG).
- `tokattn ...` and `python -m tokattn.*`: parsed by their own argument parsers; the
  stores, folders and probe ids they name must be ones the tiny config makes (compared
  with the outputs `snakemake --summary --configfile config/tiny.yaml` plans).
- `python tools/*.py`, `python benchmarks/*.py`: run up to their argument parsing.
- `lm_eval ...`: parsed by lm-evaluation-harness's parser; the model folder must be a
  planned output and the tasks must be defined in tasks/.
- Everything else is skipped only with a reason listed in SKIPPED; a command with neither
  a check nor a reason fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.docs.doc_commands import ROOT, DocCommand, all_doc_commands

TINY = "config/tiny.yaml"
TINY_RESULTS = "results/tiny"  # the tiny config's experiment folder
RUNNER = Path(__file__).with_name("run_doc_commands.py")
SKIPPED = {
    "pip": "installs packages: the tests run in the environment it made",
    "export": "sets a site variable that the SLURM profile reads when it submits jobs",
    "git": "works on the clone itself",
    "eval": "starts the test SLURM cluster (tests/slurm/start.sh; tests/slurm runs it)",
    "tests/slurm/stop.sh": "stops the test SLURM cluster (tests/slurm runs it)",
    "pytest": "runs the test suite itself (its paths are checked to exist)",
}
# Not copied into the working directory of the dry runs: results and Snakemake state.
NOT_LINKED = {".git", ".snakemake", "results", ".pytest_cache", ".ruff_cache"}

COMMANDS = all_doc_commands()


def kind_of(cmd: DocCommand) -> str:
    """Return how a command is checked: snakemake, tokattn, script, lm_eval or skip:<word>."""
    argv = cmd.argv
    if argv[0] in SKIPPED:
        return f"skip:{argv[0]}"
    if argv[:3] == ("python", "-m", "pytest"):
        return "skip:pytest"
    if argv[0] == "snakemake":
        return "snakemake"
    if argv[0] == "tokattn" or (argv[:2] == ("python", "-m") and argv[2].startswith("tokattn")):
        return "tokattn"
    if argv[0] == "python" and len(argv) > 1 and argv[1].endswith(".py"):
        return "script"
    if argv[0] == "lm_eval":
        return "lm_eval"
    return "unknown"


def dry_run_argv(argv: tuple[str, ...]) -> list[str]:
    """`snakemake ARGS` -> the arguments of its dry run (`--report FILE` dropped)."""
    args = list(argv[1:])
    if "--report" in args:
        i = args.index("--report")
        assert args[i + 1].endswith((".zip", ".html")), args
        del args[i : i + 2]
    return args if "-n" in args or "--dry-run" in args else [*args, "-n"]


def _workdir(path: Path) -> Path:
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (path / entry.name).symlink_to(entry)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Run every snakemake dry run, script parse and lm_eval parse in one process."""
    jobs = [
        {"kind": "snakemake", "argv": ["--summary", "--configfile", TINY]},
        {"kind": "snakemake", "argv": ["--list-rules", "--configfile", TINY]},
    ]
    index = {}
    for cmd in COMMANDS:
        kind = kind_of(cmd)
        if kind == "snakemake":
            job = {"kind": kind, "argv": dry_run_argv(cmd.argv)}
        elif kind in ("script", "lm_eval"):
            job = {"kind": kind, "argv": list(cmd.argv[1:])}
        else:
            continue
        if job not in jobs:
            jobs.append(job)
        index[cmd] = jobs.index(job)
    out = tmp_path_factory.mktemp("doc-runs")
    (out / "jobs.json").write_text(json.dumps(jobs), "utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    subprocess.run(
        [sys.executable, str(RUNNER), str(out / "jobs.json"), str(out / "results.json")],
        cwd=_workdir(tmp_path_factory.mktemp("fresh-clone")),
        env=env,
        check=True,
        timeout=600,
    )
    results = json.loads((out / "results.json").read_text("utf-8"))
    summary = results[0]
    assert summary["ok"], Path(summary["log"]).read_text("utf-8")[-3000:]
    planned = {
        line.split("\t", 1)[0]
        for line in Path(summary["log"]).read_text("utf-8").splitlines()
        if line.startswith("results/") and "\t" in line
    }
    assert len(planned) > 100
    rules = results[1]
    assert rules["ok"], Path(rules["log"]).read_text("utf-8")[-3000:]
    listed = dict(
        re.fullmatch(r"(\w+)(?: \((.*)\))?", line).groups()
        for line in Path(rules["log"]).read_text("utf-8").splitlines()
        if re.fullmatch(r"\w+( \(.*\))?", line)
    )
    return {"results": results, "index": index, "planned": planned, "rules": listed}


def _is_planned(path: str, planned: set[str]) -> bool:
    path = path.rstrip("/")
    return path in planned or any(p.startswith(path + "/") for p in planned)


def _tiny_probe_ids() -> set[str]:
    """Probe ids the tiny config makes that do not depend on the corpus."""
    from tokattn.attention import probes
    from tokattn.common.config import validate_config

    config = validate_config(yaml.safe_load((ROOT / TINY).read_text()), ROOT / "config/schema.yaml")
    cfg = {**probes.DEFAULTS, **config.get("probes", {})}
    return {p["id"] for p in probes.simple_probes(cfg) + probes.stress_probes(cfg)}


def _parse_tokattn(argv: tuple[str, ...]):
    """Parse a tokattn command with its own parser; return (subcommand, namespace)."""
    from tokattn import cli
    from tokattn.cli import store as store_cli
    from tokattn.viewer import __main__ as viewer_cli

    if argv[0] == "tokattn":
        top = cli.parser().parse_args(argv[1:])
        command, rest = top.command, top.args
    else:
        command = {"tokattn.cli.store": "store", "tokattn.viewer": "view"}[argv[2]]
        rest = list(argv[3:])
    if command == "store":
        return command, store_cli.parser().parse_args(rest)
    return command, viewer_cli.parser().parse_args(rest)


def test_commands_are_found_and_every_one_has_a_check():
    kinds = {cmd: kind_of(cmd) for cmd in COMMANDS}
    unknown = [str(cmd) for cmd, kind in kinds.items() if kind == "unknown"]
    assert not unknown, f"no check and no skip reason for: {unknown}"
    sources = {cmd.source.split(":")[0] for cmd in COMMANDS}
    assert {"README.md", "docs/training.md", "docs/evaluation.md", "docs/report.md"} <= sources
    assert sum(kind == "snakemake" for kind in kinds.values()) >= 10


@pytest.mark.parametrize("cmd", COMMANDS, ids=str)
def test_documented_command_runs_as_written(cmd, runs):
    kind = kind_of(cmd)
    if kind.startswith("skip:"):
        reason = SKIPPED[kind.removeprefix("skip:")]
        assert reason
        if kind == "skip:pytest":  # the test paths it names exist
            for word in cmd.argv:
                if word.startswith("tests"):
                    assert (ROOT / word).exists(), f"{cmd}: no {word}"
        return
    if kind in ("snakemake", "script", "lm_eval"):
        result = runs["results"][runs["index"][cmd]]
        log = Path(result["log"]).read_text("utf-8")
        assert result["ok"], f"{cmd}\n{result['error']}\n{log[-3000:]}"
        if kind == "lm_eval":
            parsed = json.loads(log.strip().splitlines()[-1])
            # Run from the experiment's folder (the task YAMLs' data_files are relative to it).
            model = f"{TINY_RESULTS}/{parsed['model_args']['pretrained']}"
            assert _is_planned(model, runs["planned"]), f"{cmd}: the tiny config makes no {model}"
            assert (ROOT / TINY_RESULTS / parsed["include_path"]).resolve() == ROOT / "tasks", cmd
            defined = {
                (spec := yaml.safe_load(p.read_text()))["task"]: spec
                for p in (ROOT / "tasks").glob("*.yaml")
            }
            assert set(parsed["tasks"]) <= set(defined), (cmd, set(defined))
            for task in parsed["tasks"]:  # the files each task reads are ones the run makes
                for data in defined[task]["dataset_kwargs"]["data_files"].values():
                    path = f"{TINY_RESULTS}/{data}"
                    assert _is_planned(path, runs["planned"]), f"{cmd}: {task} reads {path}"
        return
    assert kind == "tokattn"
    try:
        command, args = _parse_tokattn(cmd.argv)
    except SystemExit as exc:
        pytest.fail(f"{cmd}: does not parse (exit status {exc.code})")
    stores = [str(s) for s in (args.stores if command == "view" else [args.file])]
    for store in stores:
        assert _is_planned(store, runs["planned"]), f"{cmd}: the tiny config makes no {store}"
    probes = args.probes or [] if command == "view" else [getattr(args, "probe", None)]
    for probe in filter(None, probes):
        assert probe in _tiny_probe_ids(), f"{cmd}: the tiny config has no probe {probe!r}"


STAGE_TARGETS = {"all", "corpus", "tokenizers", "train", "attention", "evaluate", "report"}


def test_list_rules_describes_every_rule_and_marks_the_targets(runs):
    listed = runs["rules"]
    defined = {
        name
        for path in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]
        for name in re.findall(r"^rule (\w+):", path.read_text("utf-8"), re.M)
    }
    assert defined and set(listed) == defined
    undocumented = sorted(name for name, doc in listed.items() if not doc)
    assert not undocumented, f"rules without a docstring: {undocumented}"
    targets = {name for name, doc in listed.items() if doc.startswith("Target:")}
    assert targets == STAGE_TARGETS
    # The README's stage table names exactly these target rules (plus `all`, the default).
    table = re.findall(r"^\| [a-z]+ \| `(\w+)` \|", (ROOT / "README.md").read_text("utf-8"), re.M)
    assert set(table) | {"all"} == STAGE_TARGETS, table

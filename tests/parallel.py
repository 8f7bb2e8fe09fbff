"""Running the suite on several CPU cores (pytest-xdist), and what must share a worker.

pytest-xdist runs tests in worker processes, and a session- or module-scoped fixture is
built once per worker that uses it. So every test that shares such a fixture defined in
this test tree goes to one worker (one `xdist_group`): the tiny-DAG run of
tests/workflow (one Snakemake run per session, in one working directory), the test
SLURM cluster of tests/slurm (one private cluster), the headless browser and the viewer
stores, the trained models of tests/unit/*. Tests that share nothing are spread freely.

The tiny-DAG group is put first: it is the longest (most of the suite's CPU time), so it
starts at once on one worker while the other workers run the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Without an explicit -n: at most this many workers. The tiny-DAG group keeps one worker
# (and the 2 cores of its `snakemake --cores 2`) busy for most of the run and the SLURM
# group another; beyond that more workers only repeat the session fixtures of the unit
# tests (each worker builds its own) for little gain.
MAX_WORKERS = 4
# Session fixtures of different conftests that share their outputs through a file under
# the session's base temp dir (tests/unit/viewer/stores.py): keyed by name, not definition.
SHARED_BY_NAME = {"tiny_stores"}
TINY_DAG_FIXTURES = {"tiny_results", "tiny_workdir"}
GROUP_TINY_DAG = "tiny-dag"
GROUP_SLURM = "slurm"
DIST_KEY = "tokattn_dist"


def worker_input(config: pytest.Config) -> dict[str, str]:
    """What a worker needs from the controller's choices (see enable_by_default)."""
    return {DIST_KEY: config.option.dist}


def default_workers(config: pytest.Config) -> int:
    """Workers when none are asked for: 0 (serial) when the arguments are files or test
    ids only, else PYTEST_XDIST_AUTO_NUM_WORKERS if set, else the usable cores up to
    MAX_WORKERS (0 on one core)."""
    if config.args_source == pytest.Config.ArgsSource.ARGS and not any(
        Path(config.invocation_params.dir, arg.split("::", 1)[0]).is_dir() for arg in config.args
    ):
        return 0  # one file or a few tests: a second worker would only repeat fixtures
    if env := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS) if cores > 1 else 0


def enable_by_default(config: pytest.Config) -> None:
    """`pytest` with no -n runs on default_workers() workers, tests grouped by
    group_items(); `-n 0` or `-p no:xdist` runs serially, `-n N` on N workers (grouped)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    if hasattr(config, "workerinput"):
        # A worker re-parses the command line, which may not say --dist loadgroup: the
        # controller passes its choice (worker_input), so the worker reports the groups.
        config.option.loadgroup = config.workerinput.get(DIST_KEY) == "loadgroup"
        return
    if config.option.numprocesses is None:
        config.option.numprocesses = default_workers(config)
    if config.option.dist == "no":  # not given: the groups below decide
        config.option.dist = "loadgroup"
        # Keep the collection order (tiny DAG first), not largest group first.
        config.option.loadscopereorder = False


def _shared_keys(item: pytest.Item) -> set[str]:
    """Keys of the session/module fixtures defined in this tree that `item` uses."""
    keys = set()
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return keys
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            scope = fixturedef.scope
            if scope not in ("session", "package", "module"):
                continue
            if not fixturedef.baseid:
                continue  # pytest's own (tmp_path_factory, ...) or a plugin's
            if name in TINY_DAG_FIXTURES:
                keys.add(GROUP_TINY_DAG)
            elif name == "slurm_cluster":
                keys.add(GROUP_SLURM)
            elif name in SHARED_BY_NAME:
                keys.add(name)
            elif scope == "module":
                keys.add(f"{item.nodeid.split('::', 1)[0]}:{name}")
            else:
                keys.add(f"{fixturedef.baseid}:{name}")
    return keys


def group_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test that shares a fixture (transitively) one xdist_group.

    Tests under tests/slurm all share the cluster and go together. A test that already
    has an xdist_group marker keeps it. In a worker of a grouped run the items are also
    reordered, which is the order the controller hands them out: the tiny DAG first
    (the longest), then the SLURM group, the other groups, and last the tests that share
    nothing, which fill the gaps at the end. A serial run keeps pytest's order.
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    item_keys = []
    for item in items:
        keys = _shared_keys(item)
        if Path(item.path).is_relative_to(TESTS / "slurm"):
            keys.add(GROUP_SLURM)
        keys = sorted(keys)
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
        item_keys.append(keys)

    # Name each group after its best-known member (tiny-dag, slurm), else its root key.
    names = {find(k): find(k) for keys in item_keys for k in keys}
    for special in (GROUP_SLURM, GROUP_TINY_DAG):
        if special in parent:
            names[find(special)] = special
    groups: dict[str | None, list[pytest.Item]] = {GROUP_TINY_DAG: [], GROUP_SLURM: []}
    for item, keys in zip(items, item_keys, strict=True):
        if keys and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(names[find(keys[0])]))
        marker = item.get_closest_marker("xdist_group")
        group = (marker.args[0] if marker.args else marker.kwargs.get("name")) if marker else None
        groups.setdefault(group, []).append(item)
    if getattr(config, "workerinput", {}).get(DIST_KEY) == "loadgroup":
        alone = groups.pop(None, [])
        items[:] = [item for group in groups.values() for item in group] + alone

"""The suite's parallel run (tests/parallel.py): shared fixtures built once, on one worker.

Each case runs pytest on a small project whose root conftest takes the hooks of
tests/conftest.py, and whose tests record which worker ran them and how often each
session fixture was built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ROOT_CONFTEST = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from tests.conftest import (  # noqa: F401
    pytest_cmdline_main, pytest_collection_modifyitems, pytest_configure_node,
)
"""
# Fixtures in a sub-conftest, as in the suite (tests/workflow/conftest.py and others).
SUITE_CONFTEST = """
import json, os, time
from pathlib import Path
import pytest

LOG = Path(os.environ["SUITE_LOG"])

def record(**row):
    row["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with LOG.open("a") as f:
        f.write(json.dumps(row) + "\\n")

@pytest.fixture(scope="session")
def tiny_results():
    record(built="tiny_results")
    time.sleep(4)  # the long DAG run: the other worker takes the rest meanwhile

@pytest.fixture(scope="session")
def tiny_report(tiny_results):
    pass

@pytest.fixture(scope="session")
def trained_model():
    record(built="trained_model")
    time.sleep(0.5)
"""
TEST_DAG = """
import pytest
from suite.conftest import record

@pytest.mark.parametrize("i", range(4))
def test_dag(tiny_report, i):
    record(test="dag")
"""
TEST_UNIT = """
import time
import pytest
from suite.conftest import record

@pytest.mark.parametrize("i", range(3))
def test_model(trained_model, i):
    record(test="model")

@pytest.mark.parametrize("i", range(8))
def test_free(i):
    time.sleep(0.2)
    record(test="free")
"""


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "conftest.py").write_text(ROOT_CONFTEST)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "__init__.py").write_text("")
    (suite / "conftest.py").write_text(SUITE_CONFTEST)
    (suite / "test_a_unit.py").write_text(TEST_UNIT)
    (suite / "test_b_dag.py").write_text(TEST_DAG)
    return tmp_path


def run_suite(project: Path, *args: str, workers: str | None = "2") -> list[dict]:
    """Run pytest on the project; return the rows its tests and fixtures recorded."""
    log = project / "log.jsonl"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["SUITE_LOG"] = str(log)
    if workers is not None:  # what -n would be on a machine with that many cores
        env["PYTEST_XDIST_AUTO_NUM_WORKERS"] = workers
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "15 passed" in proc.stdout, proc.stdout[-3000:]
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_default_run_is_parallel_and_builds_each_shared_fixture_once(project):
    rows = run_suite(project, "suite")
    built = [r["built"] for r in rows if "built" in r]
    assert sorted(built) == ["tiny_results", "trained_model"]  # once each, not per worker
    workers = {
        kind: {r["worker"] for r in rows if r.get("test") == kind}
        for kind in ("dag", "model", "free")
    }
    assert workers["dag"] == {next(r["worker"] for r in rows if r.get("built") == "tiny_results")}
    assert len(workers["model"]) == 1
    # The DAG group starts first and keeps its worker; the free tests run on the other.
    assert workers["free"] - workers["dag"], workers
    assert {w for ws in workers.values() for w in ws} == {"gw0", "gw1"}


def test_explicit_worker_count_keeps_the_groups(project):
    rows = run_suite(project, "suite", "-n", "2", workers=None)
    assert sorted(r["built"] for r in rows if "built" in r) == ["tiny_results", "trained_model"]
    assert len({r["worker"] for r in rows if r.get("test") == "dag"}) == 1


@pytest.mark.parametrize("args", [("suite", "-n", "0"), ("suite", "-p", "no:xdist")])
def test_serial_run(project, args):
    rows = run_suite(project, *args)
    assert {r["worker"] for r in rows} == {"main"}
    assert sorted(r["built"] for r in rows if "built" in r) == ["tiny_results", "trained_model"]


def test_one_file_runs_serially(project):
    rows = run_suite(project, "suite/test_a_unit.py", "suite/test_b_dag.py")
    assert {r["worker"] for r in rows} == {"main"}


def test_default_workers_capped(monkeypatch):
    from tests import parallel

    config = pytest.Config.__new__(pytest.Config)  # only the attributes read below
    config.args_source = pytest.Config.ArgsSource.TESTPATHS
    config.args = ["tests"]
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    for cores, expected in ((1, 0), (2, 2), (16, parallel.MAX_WORKERS)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert parallel.default_workers(config) == expected

"""Every config writes under results/{experiment}/, so experiments never replan each other."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tokattn.common.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schema.yaml"
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


@pytest.mark.parametrize("name", ["../up", "a/b", "", "-x", "with space", "x" * 65])
def test_an_experiment_name_that_is_no_folder_name_is_refused(name):
    cfg = {**copy.deepcopy(TINY), "experiment": name}
    with pytest.raises(ConfigError, match="experiment"):
        validate_config(cfg, SCHEMA)


def _planned(workdir: Path, configfile: str) -> set[str]:
    """Output paths `snakemake --summary` plans for a config, in a workdir with no results."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--summary", "--configfile", configfile],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        line.split("\t", 1)[0] for line in proc.stdout.splitlines() if line.startswith("results")
    }


def test_each_config_plans_only_under_its_own_folder(tmp_path):
    for entry in REPO.iterdir():
        if entry.name not in {".git", ".snakemake", "results"}:
            (tmp_path / entry.name).symlink_to(entry)
    other = copy.deepcopy(TINY)
    other["experiment"] = "tiny_b"
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(other))
    tiny = _planned(tmp_path, "config/tiny.yaml")
    default = _planned(tmp_path, "config/config.yaml")
    b = _planned(tmp_path, "b.yaml")
    assert len(tiny) > 100 and len(default) > 100
    assert all(p.startswith("results/tiny/") for p in tiny), sorted(tiny)[:5]
    assert all(p.startswith("results/default/") for p in default), sorted(default)[:5]
    # The same config under another name: the same outputs, in its own folder.
    assert {p.removeprefix("results/tiny_b/") for p in b} == {
        p.removeprefix("results/tiny/") for p in tiny
    }

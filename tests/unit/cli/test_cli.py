"""The `tokattn` command: `view`, `store` (list, show), --help, --version, the console script."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from tokattn import cli
from tokattn.attention.store import AttentionStore

ROOT = Path(__file__).resolve().parents[3]


def test_tokattn_command(tiny_stores, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert cli.main(["view", str(tiny_stores["bpe"]), "-o", str(out), "--title", "T"]) == 0
    assert "<title>T</title>" in out.read_text("utf-8")
    assert cli.main(["store", "list", str(tiny_stores["bpe"])]) == 0
    assert "mixed-0" in capsys.readouterr().out
    assert cli.main(["view", str(tmp_path / "missing.h5"), "-o", str(out)]) == 2
    assert "missing.h5" in capsys.readouterr().err
    assert cli.main(["frobnicate"]) == 2


def _store_rows(out: str) -> list[tuple[float, np.ndarray]]:
    """Parse `store show` lines `q label H=x | v v v` into (H, row) pairs."""
    rows = []
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        left, values = line.split(" | ")
        rows.append((float(left.rsplit("H=", 1)[1]), np.array(values.split(), float)))
    return rows


def test_top_level_help_describes_each_command_and_version(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tokattn ")
    for name in ("view", "store"):
        assert re.search(rf"^  {name} +\w+.*attention", out, re.M), out
    assert cli.main(["--version"]) == 0
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert capsys.readouterr().out.strip() == f"tokattn {pyproject['project']['version']}"
    assert cli.main([]) == 2


def test_store_help_names_prog_indices_and_units(capsys):
    assert cli.main(["store", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tokattn store ") and "python -m" not in out
    assert "0-based" in out and "'mean'" in out and "nats" in out
    assert cli.main(["store", "show", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tokattn store show ")
    assert re.search(r"head +0-based head index, or 'mean'", out)


def test_store_show_prints_entropy_in_nats_and_the_mean_over_heads(tiny_stores, capsys):
    path, probe, layer = tiny_stores["bpe"], "mixed-0", 1
    with AttentionStore(path) as store:
        rec = store.record(probe)
        maps = rec.attention_maps(layer)  # [head, q, k]
    assert cli.main(["store", "show", str(path), probe, str(layer), "2"]) == 0
    rows = _store_rows(capsys.readouterr().out)
    assert len(rows) == rec.n_tokens
    for q, (h, row) in enumerate(rows):
        np.testing.assert_allclose(row, maps[2, q, : q + 1], atol=0.006)
        assert h == pytest.approx(scipy.stats.entropy(maps[2, q, : q + 1]), abs=0.02)  # nats
    assert max(h for h, _ in rows) > 0.5  # not all one-hot rows: the units matter
    assert cli.main(["store", "show", str(path), probe, str(layer), "mean"]) == 0
    out = capsys.readouterr().out
    assert f"mean over {rec.n_heads} heads" in out
    mean = maps.mean(0)
    for q, (h, row) in enumerate(_store_rows(out)):
        np.testing.assert_allclose(row, mean[q, : q + 1], atol=0.006)
        assert h == pytest.approx(scipy.stats.entropy(mean[q, : q + 1]), abs=0.02)
    with pytest.raises(SystemExit, match=r"0\.\.3, or 'mean'"):
        cli.main(["store", "show", str(path), probe, str(layer), str(rec.n_heads)])
    assert cli.main(["store", "show", str(path), probe, "0", "first"]) == 2
    assert "head must be a 0-based index or 'mean', not 'first'" in capsys.readouterr().err


def test_tokattn_script_runs_the_cli():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["scripts"]["tokattn"] == "tokattn.cli:main"
    result = subprocess.run(
        [sys.executable, "-m", "tokattn.cli", "store", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tokattn store ")

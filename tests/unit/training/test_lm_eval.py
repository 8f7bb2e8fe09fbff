"""lm-evaluation-harness runs on an exported model with a local YAML task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import tiny_arm, tiny_training

TASK_DIR = Path(__file__).resolve().parents[2] / "data" / "lm_eval"


def test_lm_eval_hf_model_on_local_task(run_training, tmp_path):
    pytest.importorskip("lm_eval", reason="lm-eval not installed (pip install 'lm-eval>=0.4,<0.5')")
    _, model_dir = run_training(tiny_arm("bpe"), tiny_training(budget_bytes=3000), tag="lmeval")
    out = tmp_path / "lm_eval"
    cmd = [
        sys.executable, "-m", "lm_eval", "run",
        "--model", "hf",
        "--model_args", f"pretrained={model_dir},dtype=float32",
        "--tasks", "tokattn_tiny_mc",
        "--include_path", str(TASK_DIR),
        "--device", "cpu",
        "--batch_size", "4",
        "--output_path", str(out),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    # The task's data_files path is relative: datasets resolves it from the working dir.
    proc = subprocess.run(cmd, cwd=TASK_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    task = results["results"]["tokattn_tiny_mc"]
    assert 0.0 <= task["acc,none"] <= 1.0
    assert results["n-samples"]["tokattn_tiny_mc"]["effective"] == 5

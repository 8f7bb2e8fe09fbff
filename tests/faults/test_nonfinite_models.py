"""A model with NaN weights or overflowing outputs is refused by the dump and the evaluation."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.faults.injection import write_probes
from tests.tiny_models import save_tiny_model
from tokattn.attention.dump import dump_attention
from tokattn.common.model_checks import NonFiniteModelError
from tokattn.evaluation.model_io import load_scoring_model


def _broken_model(folder, how: str):
    save_tiny_model(folder, "byte", context=64)
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        if how == "nan_weight":
            model.model.layers[1].mlp.up_proj.weight[3, 5] = float("nan")
        else:  # finite weights whose logits overflow float32
            model.model.norm.weight.fill_(3e38)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["nan_weight", "overflow"])
def broken(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param) / "model"
    return request.param, _broken_model(folder, request.param)


def test_dump_refuses_and_names_the_folder(broken, tmp_path):
    how, folder = broken
    probes = write_probes(tmp_path / "probes.jsonl")
    match = "up_proj.weight" if how == "nan_weight" else "non-finite logits"
    with pytest.raises(NonFiniteModelError, match=rf"model {folder}: .*{match}"):
        dump_attention(folder, probes, tmp_path / "seed0.h5", "m", 0, {"device": "cpu"})
    assert list(tmp_path.glob("*.h5*")) == [] and list(tmp_path.glob(".seed0*")) == []


def test_evaluation_refuses_and_names_the_folder(broken):
    _, folder = broken
    with pytest.raises(NonFiniteModelError, match=f"model {folder}: non-finite"):
        load_scoring_model(folder, device="cpu", dtype="float32")


def test_probe_output_overflow_is_caught_per_probe():
    import numpy as np

    from tokattn.common.model_checks import check_finite_arrays

    arrays = {"entropy": np.array([0.1, np.nan], np.float32), "token_ids": np.arange(2)}
    with pytest.raises(NonFiniteModelError, match="model m: probe p3: entropy holds 1"):
        check_finite_arrays(arrays, "model m: probe p3")


def test_head_analysis_refuses_a_store_with_nan_maps(real_store, tmp_path):
    import shutil

    import h5py
    import numpy as np

    from tokattn.attention.head_analysis import analyze_store

    bad = tmp_path / "seed0.h5"
    shutil.copy(real_store, bad)
    with h5py.File(bad, "r+") as f:  # a valid file (checksums rewritten) holding NaN
        dset = f["probes/p1/attention"]
        dset[0, 0, -1] = np.nan
    out = tmp_path / "analysis"
    with pytest.raises(NonFiniteModelError, match=rf"{bad}: probe p1: attention holds 1 "):
        analyze_store(bad, out / "heads.parquet", out / "word_maps.h5", out / "corr.parquet")
    assert not out.exists() or list(out.iterdir()) == []

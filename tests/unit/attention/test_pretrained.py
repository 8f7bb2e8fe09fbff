"""Pretrained HF causal LMs as arms: import into an arm folder, then dump like any arm."""

from __future__ import annotations

import json

import pytest

from tokattn.attention.dump import dump_attention
from tokattn.attention.pretrained import import_pretrained
from tokattn.attention.store import AttentionStore


def test_import_local_folder_then_dump(tmp_path, gpt2_dir, probes_path):
    out = import_pretrained({"name": "gpt2_local", "path": str(gpt2_dir)}, tmp_path / "seed0")
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "train_summary.json"} <= names
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == -1 and summary["model_family"] == "gpt2"
    assert summary["pretrained"] == {"path": str(gpt2_dir), "hub": False, "revision": None}
    store = dump_attention(out, probes_path, tmp_path / "a.h5", "gpt2_local", 0, {"device": "cpu"})
    with AttentionStore(store) as s:
        assert s.attrs["checkpoint_step"] == -1 and s.attrs["model_family"] == "gpt2"
        assert (
            s.attrs["tokenizer"] == "gpt2_local-tokenizer" and len(s.attrs["tokenizer_hash"]) == 64
        )


def test_hub_id_needs_hub_true(tmp_path):
    with pytest.raises(FileNotFoundError, match="hub: true"):
        import_pretrained({"name": "gpt2", "path": "openai-community/gpt2"}, tmp_path / "x")
    assert not (tmp_path / "x").exists()

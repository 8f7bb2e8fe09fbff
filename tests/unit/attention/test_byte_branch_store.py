"""Byte-branch models in the attention dump and store: cross-attention maps (token × byte).

Checked against the reloaded folder's own `output_attentions=True` forward pass; windowed
probes against each window's forward pass shifted into the probe's byte frame by the
window's byte offset (an independent placement: no token-by-token mapping).
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from tests.tiny_models import save_tiny_byte_branch_model
from tokattn.attention.dump import dump_attention, plan_windows
from tokattn.attention.head_analysis import analyze_store
from tokattn.attention.store import AttentionStore
from tokattn.attention.word_maps import WordMaps
from tokattn.cli.store import main

from .conftest import CONTEXT

WINDOWED_CONTEXT = 24
# (name, cross layers, cross window in bytes)
VARIANTS = [("bb_full", (0, 1), None), ("bb_cw8", (1,), 8)]


@pytest.fixture(scope="module")
def bb_models(tmp_path_factory, bpe_tokenizer_dir) -> dict:
    root = tmp_path_factory.mktemp("bb_models")
    return {
        name: save_tiny_byte_branch_model(
            root / name, bpe_tokenizer_dir, CONTEXT, cross_layers=layers, cross_window_bytes=cw
        )
        for name, layers, cw in VARIANTS
    }


@pytest.fixture(scope="module")
def bb_stores(tmp_path_factory, bb_models, probes_path) -> dict:
    """Per model: a store of whole probes and one whose long probes are windowed."""
    root = tmp_path_factory.mktemp("bb_attention")
    out = {}
    for name, folder in bb_models.items():
        for tag, context in (("whole", None), ("windowed", WINDOWED_CONTEXT)):
            cfg = {"top_k": 3, "iterative_lens_k": 1, "device": "cpu", "context_tokens": context}
            out[name, tag] = dump_attention(
                folder, probes_path, root / f"{name}-{tag}.h5", name, 0, cfg
            )
    return out


def _reload(folder):
    from transformers import AutoModelForCausalLM

    import tokattn.training.byte_branch  # noqa: F401  (registers the class with the Auto classes)

    return AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()


@pytest.mark.parametrize("name", [v[0] for v in VARIANTS])
def test_cross_maps_equal_the_reloaded_models_output(name, bb_models, bb_stores):
    model = _reload(bb_models[name])
    with AttentionStore(bb_stores[name, "whole"]) as store:
        assert store.attrs["byte_branch"] and store.attrs["model_type"] == "tokattn_byte_branch"
        assert store.attrs["max_decomposition_error"] < 1e-4
        assert store.attrs["cross_layers"].tolist() == list(model.config.cross_layers)
        for rec in store:
            assert rec.attrs["n_windows"] == 1
            ids = torch.as_tensor(rec.token_ids, dtype=torch.long)[None]
            with torch.no_grad():
                out = model(ids, output_attentions=True)
            byte_ids, ends = model.byte_inputs(ids)
            np.testing.assert_array_equal(rec.byte_ids, byte_ids[0].numpy())
            np.testing.assert_array_equal(rec.token_byte_ends, ends[0].numpy())
            np.testing.assert_array_equal(rec.cross_layers, model.config.cross_layers)
            expected = torch.stack(out.cross_attentions)[:, 0].numpy()  # [cross, head, T, N]
            assert rec.cross_attention.shape == expected.shape
            np.testing.assert_allclose(rec.cross_attention, expected, atol=1e-3, rtol=1e-3)
            main_maps = torch.stack(out.attentions)[:, 0].numpy()
            np.testing.assert_allclose(rec.attention_maps(), main_maps, atol=1e-3, rtol=1e-3)
            # Rows are distributions over the bytes up to the token's end (causal in bytes).
            dense = rec.cross_attention.astype(np.float32)
            np.testing.assert_allclose(dense.sum(-1), 1, atol=5e-3)
            beyond = np.arange(dense.shape[-1])[None, :] >= rec.token_byte_ends[:, None]
            assert not dense[..., beyond].any()
            for i in range(len(rec.cross_layers)):
                np.testing.assert_array_equal(
                    store.cross_attention_map(rec.probe_id, i, 1), rec.cross_attention_map(i, 1)
                )
            # Logit lens after the last layer is the model's own next-token distribution.
            top = out.logits[0].softmax(-1).topk(3)
            np.testing.assert_array_equal(rec.lens_ids[-1], top.indices.numpy())


def test_windowed_probes_land_in_the_probe_byte_frame(bb_models, bb_stores):
    name = "bb_full"
    model = _reload(bb_models[name])
    with AttentionStore(bb_stores[name, "windowed"]) as store:
        stride = int(store.attrs["window_stride_tokens"])
        windowed = [r for r in store if r.attrs["n_windows"] > 1]
        assert windowed, "the probe set has no probe longer than the window"
        for rec in windowed:
            ids = torch.as_tensor(rec.token_ids, dtype=torch.long)
            windows = plan_windows(len(ids), WINDOWED_CONTEXT, stride, bos_prefix=True)
            assert len(windows) == rec.attrs["n_windows"]
            for w in windows:
                with torch.no_grad():
                    out = model(ids[w.index][None], output_attentions=True)
                cross = torch.stack(out.cross_attentions)[:, 0].numpy()  # [cross, head, q, Nw]
                w_bytes, _ = model.byte_inputs(ids[w.index][None])
                # Body bytes start after the bytes of the tokens before the window's body.
                offset = 0 if w.start == 0 else int(rec.token_byte_ends[w.start - 1]) - 1
                cols = np.concatenate([[0], np.arange(1, cross.shape[-1]) + offset])
                np.testing.assert_array_equal(rec.byte_ids[cols], w_bytes[0].numpy())
                for local, q in enumerate(w.index):
                    if not w.q_from <= q < w.q_to:
                        continue
                    row = rec.cross_attention[:, :, q].astype(np.float32)  # [cross, head, N]
                    np.testing.assert_allclose(row[..., cols], cross[:, :, local], atol=1e-3)
                    rest = np.ones(row.shape[-1], bool)
                    rest[cols] = False
                    assert not row[..., rest].any()  # bytes outside the window: 0


def test_analyses_and_cli_run_on_byte_branch_stores(bb_stores, tmp_path, capsys):
    path = bb_stores["bb_cw8", "whole"]
    out = tmp_path / "analysis"
    heads = analyze_store(
        path, out / "heads.parquet", out / "word_maps.h5", out / "corr.parquet", max_samples=500
    )
    assert len(heads) == 2 * 4 and heads["entropy_norm_per_token"].between(0, 1 + 1e-6).all()
    with WordMaps(out / "word_maps.h5") as wm:
        assert wm.attrs["model"] == "bb_cw8"
    with AttentionStore(path) as store:
        probe = store.probe_ids[0]
        rec = store.record(probe, attention=False)
        assert rec.cross_attention is None and rec.has_cross_attention  # maps skipped
        # A cross window of 8 bytes: each token reads at most 8 bytes + the BOS byte.
        full = store.record(probe).cross_attention[0, 0].astype(np.float32)
        assert ((full > 0).sum(-1) <= 9).all()
    assert main(["show", str(path), probe, "1", "0", "--cross"]) == 0
    shown = capsys.readouterr().out
    assert "cross-attention into layer 1 head 0" in shown
    assert len([line for line in shown.splitlines() if "|" in line]) == rec.n_tokens
    with pytest.raises(SystemExit, match="receives no cross-attention"):
        main(["show", str(path), probe, "0", "0", "--cross"])
    # 'mean': the mean over the cross-attention heads, row by row
    with AttentionStore(path) as store:
        full = store.record(probe)
    i = [int(x) for x in full.cross_layers].index(1)
    mean = full.cross_attention[i].astype(np.float32).mean(0)  # [token, byte]
    assert main(["show", str(path), probe, "1", "mean", "--cross"]) == 0
    shown = capsys.readouterr().out
    assert f"mean over {full.cross_attention.shape[1]} heads" in shown
    rows = [line.split(" | ")[1].split() for line in shown.splitlines() if " | " in line]
    for q, row in enumerate(rows):
        end = int(full.token_byte_ends[q])
        np.testing.assert_allclose(np.array(row, float), mean[q, :end], atol=0.006)


def test_version_1_plain_stores_are_still_read(stores, tmp_path):
    path = tmp_path / "v1.h5"
    shutil.copy(stores["llama"], path)
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 1
    with AttentionStore(path) as old, AttentionStore(stores["llama"]) as new:
        assert new.attrs["schema_version"] == 3 and old.attrs["schema_version"] == 1
        a, b = old.record(old.probe_ids[0]), new.record(new.probe_ids[0])
        np.testing.assert_array_equal(a.attention, b.attention)
        assert not a.has_cross_attention and a.cross_attention is None and a.byte_ids is None

"""Builders read the real file formats: an attention store, word maps, tokenizer folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import AxesImage

from tokattn.attention.head_analysis import analyze_store
from tokattn.attention.lower_triangle import pack_lower
from tokattn.attention.store_format import AttentionRecord
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.report.builders import BUILDERS, build_figure
from tokattn.report.loading import ReportInputError
from tokattn.report.segmentation import segment_probes, write_segmentation

from .conftest import summary_rows

PROBES = [
    {
        "id": "corpus-en-0",
        "text": "Plain words here.",
        "language": "en",
        "domain": "news",
        "kind": "corpus",
    },
    {
        "id": "simple-en-0",
        "text": "The cat sat.",
        "language": "en",
        "domain": "simple",
        "kind": "simple",
    },
    {
        "id": "typos-0",
        "text": "Teh cta sat.",
        "language": "en",
        "domain": "stress",
        "kind": "typos",
    },
]


def _record(probe: dict, layers=2, heads=3) -> AttentionRecord:
    data = probe["text"].encode("utf-8")
    n = len(data) + 1  # BOS + one token per byte
    rng = np.random.default_rng(len(data))
    maps = np.tril(rng.random((layers, heads, n, n))) + 1e-6
    maps = np.tril(maps) / np.tril(maps).sum(-1, keepdims=True)
    spans = np.array([[0, 0]] + [[i, i + 1] for i in range(len(data))], np.int32)
    return AttentionRecord(
        probe_id=probe["id"],
        text=probe["text"],
        language=probe["language"],
        domain=probe["domain"],
        kind=probe["kind"],
        meta={},
        token_ids=np.arange(n, dtype=np.int32),
        token_strings=["<s>"] + [chr(b) for b in data],
        byte_spans=spans,
        window_start=np.zeros(n, np.int32),
        attention=pack_lower(maps.astype(np.float16)),
        entropy=rng.random((layers, heads, n), dtype=np.float32),
        head_norm=rng.random((layers, heads, n), dtype=np.float32),
        head_cosine=rng.random((layers, heads, n), dtype=np.float32),
        attn_out_norm=rng.random((layers, n), dtype=np.float32),
        decomposition_error=np.zeros(layers, np.float32),
        lens_ids=np.zeros((layers, n, 2), np.int32),
        lens_probs=np.zeros((layers, n, 2), np.float32),
    )


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    probes = root / "probes.jsonl"
    probes.write_text("".join(json.dumps(p) + "\n" for p in PROBES))
    out = {"probes": str(probes), "stores": [], "word_maps": [], "heads": []}
    for model in ("m1", "m2"):
        store = root / f"{model}.h5"
        attrs = {
            "model": model,
            "seed": 0,
            "tokenizer": "byte",
            "n_layers": 2,
            "n_heads": 3,
            "add_bos": True,
        }
        with AttentionStoreWriter(store, attrs, "gzip") as writer:
            for probe in PROBES:
                writer.write(_record(probe))
        paths = [root / model / name for name in ("heads.parquet", "word_maps.h5", "corr.parquet")]
        analyze_store(store, *paths, max_samples=200)
        out["stores"].append(str(store))
        out["heads"].append(str(paths[0]))
        out["word_maps"].append(str(paths[1]))
    return out


def test_head_grid_draws_the_chosen_probe(run_files, tmp_path):
    inputs = {"store": run_files["stores"][0], "probes": run_files["probes"]}
    fig = BUILDERS["head_grid"](inputs, {"probe_kind": "simple"})
    assert len([ax for ax in fig.axes if not hasattr(ax, "_colorbar")]) == 6
    assert "simple-en-0" in fig._suptitle.get_text()
    (image,) = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    assert image.get_array().shape == (13, 13)  # BOS + 12 bytes
    fig = BUILDERS["head_grid"](inputs, {"probe_id": "typos-0"})
    assert "typos-0" in fig._suptitle.get_text()
    out = build_figure("head_grid", inputs, {"dpi": 30}, tmp_path / "grid.svg")
    assert out.read_text().lstrip().startswith("<?xml")


def test_word_maps_use_the_analysis_files(run_files):
    inputs = {"word_maps": run_files["word_maps"], "probes": run_files["probes"]}
    fig = BUILDERS["word_maps"](inputs, {"probe_kind": "simple"})
    titles = [ax.get_title() for ax in fig.axes if not hasattr(ax, "_colorbar")]
    assert [t.split(" (")[0] for t in titles] == ["m1 L0", "m2 L0", "m1 L1", "m2 L1"]
    # Each title gives the mass kept off BOS: per word, the mean over its byte tokens of
    # 1 − a[t, 0], then the mean over words and heads (computed here from the record).
    rec = _record(PROBES[1])
    maps = rec.attention_maps().astype(np.float64)  # one token per byte, BOS first
    text = PROBES[1]["text"]
    words = [(0, 3), (3, 7), (7, len(text))]  # "The", " cat", " sat."
    kept = np.mean(
        [
            [np.mean([1 - maps[1, h, b + 1, 0] for b in range(s, e)]) for s, e in words]
            for h in range(3)
        ]
    )
    assert titles[2] == f"m1 L1 (text mass {kept:.2f})"
    (image,) = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    assert image.get_array().shape == (3, 3)  # "The", " cat", " sat."
    with pytest.raises(ReportInputError, match="no probe 'x'"):
        BUILDERS["word_maps"](inputs, {"probe_id": "x"})


def test_head_stats_from_heads_parquet(run_files):
    fig = BUILDERS["head_stats"]({"heads": run_files["heads"]}, {})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["m1", "m2"]


def test_cross_attention_without_maps_says_so(run_files):
    inputs = {"store": run_files["stores"][0], "probes": run_files["probes"]}
    fig = BUILDERS["cross_attention"](inputs, {})
    assert "no cross-attention" in fig.axes[0].texts[0].get_text()


def test_cross_attention_of_a_byte_branch_record(tmp_path):
    probe = PROBES[1]
    record = _record(probe)
    data = probe["text"].encode("utf-8")
    rng = np.random.default_rng(5)
    cross = rng.random((1, 2, record.n_tokens, len(data) + 1)).astype(np.float16)
    record.byte_ids = np.array([256, *data], np.int16)
    record.token_byte_ends = record.byte_spans[:, 1].copy()
    record.cross_layers = np.array([0], np.int32)
    record.cross_attention = cross
    store = tmp_path / "bb.h5"
    attrs = {"model": "bb", "seed": 0, "n_layers": 2, "n_heads": 3}
    with AttentionStoreWriter(store, attrs, "gzip") as writer:
        writer.write(record)
    probes = tmp_path / "probes.jsonl"
    probes.write_text(json.dumps(probe) + "\n")
    fig = BUILDERS["cross_attention"]({"store": str(store), "probes": str(probes)}, {})
    (panel,) = [ax for ax in fig.axes if ax.get_xlabel() == "key byte"]
    (image,) = [a for a in panel.get_children() if isinstance(a, AxesImage)]
    np.testing.assert_allclose(image.get_array(), cross[0].astype(np.float64).mean(0))
    labels = [t.get_text() for t in panel.get_xticklabels()]
    assert labels[:4] == ["BOS", "T", "h", "e"]


def test_training_curves_need_one_label_per_log(tmp_path):
    log = tmp_path / "train_log.csv"
    pd.DataFrame({"step": [5], "bytes": [100], "loss": [3.0], "val_bpb": [4.0]}).to_csv(log)
    with pytest.raises(ReportInputError, match="1 training logs but 0"):
        BUILDERS["training_curves"]({"logs": [str(log)]}, {"runs": []})
    fig = BUILDERS["training_curves"]({"logs": [str(log)]}, {"runs": [("m", 0)]})
    assert fig.axes[0].lines[0].get_label() == "m seed 0"


def test_unknown_figure_and_format(tmp_path):
    with pytest.raises(ValueError, match="unknown report figure"):
        build_figure("nope", {}, {}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="figure format"):
        build_figure("head_stats", {"heads": []}, {}, tmp_path / "x.jpg")


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory):
    from tokattn.tokenizing.tokenization import train_tokenizer

    root = tmp_path_factory.mktemp("tok")
    text = ["The cat sat on the mat. " * 20, "Teh dog and the cat. 12345 + 678 = 13023"] * 10
    pd.DataFrame({"text": text, "language": "en", "domain": "news"}).to_parquet(root / "t.parquet")
    dirs = {}
    for spec in (
        {"name": "byte", "kind": "byte"},
        {"name": "bpe", "kind": "bpe", "vocab_size": 300, "min_frequency": 1},
    ):
        train_tokenizer(spec, root / "t.parquet", root / spec["name"])
        dirs[spec["name"]] = root / spec["name"]
    return dirs


def test_segmentation_of_stress_probes_with_real_tokenizers(tokenizer_dirs, tmp_path):
    out = tmp_path / "segmentation.json"
    rows = write_segmentation(PROBES, tokenizer_dirs, out)
    assert json.loads(out.read_text()) == rows
    assert [r["probe_id"] for r in rows] == ["typos-0"]  # stress kinds only
    (row,) = rows
    data = row["text"].encode("utf-8")
    assert row["tokenizers"]["byte"] == [[i, i + 1] for i in range(len(data))]
    bpe = row["tokenizers"]["bpe"]
    assert len(bpe) < len(data)
    # The spans tile the text: each starts where the previous ended, the last ends at the end.
    assert bpe[0][0] == 0 and bpe[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(bpe, bpe[1:], strict=False))
    fig = BUILDERS["segmentation"]({"segmentation": str(out)}, {})
    assert len(fig.axes[0].patches) == len(data) + len(bpe)


def test_segment_probes_takes_loaded_tokenizers(tokenizer_dirs):
    from tokattn.tokenizing.folder import load_tokenizer

    tok = load_tokenizer(tokenizer_dirs["bpe"])
    (row,) = segment_probes(PROBES, {"bpe": tok})
    pieces = [row["text"].encode()[s:e] for s, e in row["tokenizers"]["bpe"]]
    assert b"".join(pieces) == row["text"].encode()


def test_benchmark_builders_draw_chance_from_the_items_and_test_split(tmp_path):
    summary = tmp_path / "summary.csv"
    summary_rows().to_csv(summary, index=False)
    items = tmp_path / "inference.jsonl"
    row = {"subtask": "addition", "choices": ["1", "2", "3", "4"], "answer": 0, "meta": {}}
    items.write_text(json.dumps(row) + "\n")
    fig = BUILDERS["inference"]({"summary": str(summary), "eval_items": [str(items)]}, {})
    (chance,) = [c for c in fig.axes[0].collections if c.get_label() == "chance"]
    assert sorted(float(s[0, 1]) for s in chance.get_segments()) == [0.25, 0.25]  # all, addition
    test = tmp_path / "test.parquet"
    pd.DataFrame({"text": ["abab"]}).to_parquet(test)  # 1 bit per byte
    fig = BUILDERS["bpb"]({"summary": str(summary), "test": str(test)}, {})
    baseline = [x for x in fig.axes[0].lines if "order-0" in str(x.get_label())]
    assert [x.get_ydata()[0] for x in baseline] == [1.0]
    assert baseline[0].get_label() == "order-0 byte entropy 1.00"
    with pytest.raises(ReportInputError, match="eval_items"):
        BUILDERS["memory"](
            {"summary": str(summary), "eval_items": [str(tmp_path / "no.jsonl")]}, {}
        )


def test_head_entropy_from_heads_parquet(run_files):
    fig = BUILDERS["head_entropy"]({"heads": run_files["heads"]}, {})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["m1", "m2"]
    (gate,) = [x for x in fig.axes[0].lines if "learned gate" in str(x.get_label())]
    assert gate.get_ydata()[0] == 0.95  # learned_gate.GATE_MAX_MEDIAN_ENTROPY

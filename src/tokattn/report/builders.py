"""Figure builders: read one figure's result files, call its figure function, save it.

Each builder takes ``inputs`` (name → path or list of paths, as a Snakemake rule names
its inputs) and ``settings`` (the config's ``report`` section plus rule parameters) and
returns a matplotlib Figure. `build_figure` saves it atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokattn.report import figures_attention as fa
from tokattn.report import figures_compare as fc
from tokattn.report import figures_eval as fe
from tokattn.report.figures_corpus import corpus_bytes_figure
from tokattn.report.figures_tokenizers import segmentation_figure, tokenizer_metrics_figure
from tokattn.report.figures_training import training_curves_figure
from tokattn.report.loading import (
    ReportInputError,
    corpus_bytes,
    load_json,
    load_probes,
    load_table,
    select_probe,
    stack_tables,
    train_logs,
)
from tokattn.report.style import save_figure

Inputs = Mapping[str, str | list[str]]


def _paths(value) -> list[str]:
    return [value] if isinstance(value, str | Path) else list(value)


def _probe(inputs: Inputs, settings: Mapping) -> dict:
    return select_probe(
        load_probes(inputs["probes"]),
        settings.get("probe_id"),
        settings.get("probe_kind", "simple"),
    )


def corpus_bytes_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the corpus figure (train split bytes per language × domain)."""
    df = corpus_bytes(load_json(inputs["stats"]), "train")
    return corpus_bytes_figure(df, int(settings.get("max_languages", 16)), "train")


def tokenizer_languages(metrics, max_languages: int) -> list[str]:
    """Return the top languages by test bytes, then any other language with a parity value."""
    rows = metrics[metrics["level"] == "language"]
    first = rows[rows["tokenizer"] == rows["tokenizer"].iloc[0]] if len(rows) else rows
    order = first.sort_values(["n_bytes", "language"], ascending=[False, True])["language"]
    top = list(order.head(max_languages))
    parity = sorted(set(rows.loc[rows["parity"].notna(), "language"]) - set(top))
    return top + parity


def tokenizer_metrics_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the per-language tokenizer metrics figure."""
    metrics = load_table(
        inputs["metrics"],
        required=(
            "tokenizer",
            "level",
            "language",
            "n_bytes",
            "bytes_per_token",
            "fertility",
            "parity",
            "renyi_efficiency",
        ),
    )
    languages = tokenizer_languages(metrics, int(settings.get("max_languages", 16)))
    return tokenizer_metrics_figure(metrics, languages)


def segmentation_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the segmentation diff of the stress probes."""
    rows = load_json(inputs["segmentation"])
    if not isinstance(rows, list):
        raise ReportInputError(f"{inputs['segmentation']}: expected a JSON list of probes")
    return segmentation_figure(rows)


def head_grid_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the layer × head grid of one run's maps for the chosen probe."""
    from tokattn.attention.store import AttentionStore

    probe = _probe(inputs, settings)
    with AttentionStore(inputs["store"]) as store:
        record = store.record(probe["id"])
        title = (
            f"{store.attrs.get('model', '?')} seed {store.attrs.get('seed', '?')}: {probe['id']}"
        )
    labels = fa.span_labels(record.text, record.byte_spans)
    return fa.head_grid_figure(record.attention_maps(), labels, title)


def word_maps_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the chosen probe's word maps side by side across models."""
    from tokattn.attention.projection import unit_spans
    from tokattn.attention.word_maps import WordMaps

    probe = _probe(inputs, settings)
    maps, masses = {}, {}
    for path in _paths(inputs["word_maps"]):
        with WordMaps(path) as word_maps:
            if probe["id"] not in word_maps.probe_ids:
                raise ReportInputError(f"{path}: no probe {probe['id']!r}")
            model = str(word_maps.attrs["model"])
            maps[model] = word_maps.maps(probe["id"])
            masses[model] = word_maps.projected_mass(probe["id"])
    words = fa.span_labels(probe["text"], unit_spans(probe["text"], "word"))
    return fa.word_maps_figure(maps, words, f"probe {probe['id']}", masses)


def head_stats_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the per-head statistics distributions per model."""
    heads = stack_tables(
        _paths(inputs["heads"]), required=("model", *[c for c, _ in fa.HEAD_STAT_PANELS])
    )
    return fa.head_stats_figure(heads)


def head_entropy_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the distribution of normalised head entropy per model, with the gate's threshold."""
    from tokattn.report.learned_gate import GATE_MAX_MEDIAN_ENTROPY

    heads = stack_tables(_paths(inputs["heads"]), required=("model", "entropy_norm_word"))
    return fa.head_entropy_figure(heads, GATE_MAX_MEDIAN_ENTROPY)


def _compare(inputs: Inputs):
    return load_table(inputs["compare"], required=("kind", "model_a", "model_b", "js"))


def js_layers_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return JS divergence per layer across model pairs."""
    return fc.js_layers_figure(_compare(inputs))


def matched_heads_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the matched-heads figure."""
    return fc.matched_heads_figure(_compare(inputs))


def cross_attention_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the token × byte cross-attention of the chosen probe (a note if none is stored)."""
    from tokattn.attention.store import AttentionStore

    probe = _probe(inputs, settings)
    with AttentionStore(inputs["store"]) as store:
        record = store.record(probe["id"])
        model = store.attrs.get("model", "?")
    cross = getattr(record, "cross_attention", None)
    if cross is None:
        from tokattn.report.style import empty_note, new_figure

        fig, axes = new_figure(1, 1)
        empty_note(axes[0, 0], f"{model}: the attention store holds no cross-attention maps")
        return fig
    byte_ids = getattr(record, "byte_ids", None)
    if byte_ids is None:  # the text's bytes, no BOS byte
        byte_ids = np.frombuffer(record.text.encode("utf-8"), np.uint8)
    labels = fa.span_labels(record.text, record.byte_spans)
    layers = getattr(record, "cross_layers", None)
    return fa.cross_attention_figure(
        np.asarray(cross),
        [] if layers is None else [int(x) for x in layers],
        labels,
        [byte_label(int(b)) for b in byte_ids],
        f"{model}: {probe['id']}",
    )


def byte_label(byte: int) -> str:
    """Return a short label for a byte id of the byte frame (256 is the BOS byte)."""
    if byte >= 256:
        return "BOS"
    if byte in (32, 10):
        return "·" if byte == 32 else "⏎"
    return chr(byte) if 32 < byte < 127 else f"{byte:02x}"


def _summary(inputs: Inputs):
    return load_table(inputs["summary"], required=fe.SUMMARY_COLUMNS)


def _chance(inputs: Inputs):
    """Chance levels of the eval items files in inputs['eval_items'] (task = file stem), or None."""
    from tokattn.evaluation.tasks.chance import chance_levels
    from tokattn.evaluation.tasks.items import read_jsonl

    paths = _paths(inputs["eval_items"]) if inputs.get("eval_items") else []
    for path in paths:
        if not Path(path).is_file():
            raise ReportInputError(f"{path}: no such file (run rule eval_items)")
    frames = [chance_levels(Path(p).stem, read_jsonl(p)) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else None


def bpb_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the bits-per-byte figure, with the test split's unigram byte entropy if given."""
    from tokattn.report.learned_gate import unigram_byte_entropy_bits

    unigram = unigram_byte_entropy_bits(inputs["test"]) if inputs.get("test") else None
    return fe.bpb_figure(_summary(inputs), unigram)


def inference_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the inference accuracy figure (chance marks from inputs['eval_items'])."""
    return fe.inference_figure(_summary(inputs), chance=_chance(inputs))


def memory_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the memory accuracy vs distance figure (chance lines from inputs['eval_items'])."""
    return fe.memory_figure(_summary(inputs), chance=_chance(inputs))


def rouge_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the ROUGE figure."""
    return fe.rouge_figure(_summary(inputs))


def training_curves_builder(inputs: Inputs, settings: Mapping) -> Figure:
    """Return the training curves; settings['runs'] lists (model, seed) in input order."""
    paths = _paths(inputs["logs"])
    runs = settings.get("runs") or []
    if len(runs) != len(paths):
        raise ReportInputError(f"{len(paths)} training logs but {len(runs)} (model, seed) labels")
    return training_curves_figure(
        train_logs([(m, s, p) for (m, s), p in zip(runs, paths, strict=True)])
    )


BUILDERS: dict[str, Callable[[Inputs, Mapping], Figure]] = {
    "corpus_bytes": corpus_bytes_builder,
    "tokenizer_metrics": tokenizer_metrics_builder,
    "segmentation": segmentation_builder,
    "head_grid": head_grid_builder,
    "word_maps": word_maps_builder,
    "head_stats": head_stats_builder,
    "head_entropy": head_entropy_builder,
    "js_layers": js_layers_builder,
    "matched_heads": matched_heads_builder,
    "cross_attention": cross_attention_builder,
    "bpb": bpb_builder,
    "inference": inference_builder,
    "memory": memory_builder,
    "rouge": rouge_builder,
    "training_curves": training_curves_builder,
}


def build_figure(name: str, inputs: Inputs, settings: Mapping, out_path: str | Path) -> Path:
    """Draw figure `name` from `inputs` and write it to `out_path`; return the path."""
    if name not in BUILDERS:
        raise ValueError(f"unknown report figure {name!r} (known: {', '.join(BUILDERS)})")
    fig = BUILDERS[name](inputs, settings)
    return save_figure(fig, out_path, int(settings.get("dpi", 110)))

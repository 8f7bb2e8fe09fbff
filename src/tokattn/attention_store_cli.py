"""Command line of the attention store: `python -m tokattn.attention_store list|show ...`."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tokattn.attention_store import AttentionStore, AttentionStoreError, _decode


def _cmd_list(store: AttentionStore) -> None:
    print(f"# {store.path}")
    for key in sorted(store.attrs):
        print(f"#   {key}: {store.attrs[key]}")
    print("probe\tkind\tlanguage\tdomain\tn_tokens\tn_bytes")
    for probe_id in store.probe_ids:
        g = store._group(probe_id)
        text = _decode(g.attrs["text"])
        print(
            f"{probe_id}\t{_decode(g.attrs['kind'])}\t{_decode(g.attrs['language'])}\t"
            f"{_decode(g.attrs['domain'])}\t{int(g.attrs['n_tokens'])}\t"
            f"{len(text.encode('utf-8'))}"
        )


def _cmd_show(store: AttentionStore, probe_id: str, layer: int, head: int, width: int) -> None:
    rec = store.record(probe_id, attention=False)
    if not (0 <= layer < rec.n_layers and 0 <= head < rec.n_heads):
        raise SystemExit(f"layer/head out of range: {rec.n_layers} layers, {rec.n_heads} heads")
    amap = store.attention_map(probe_id, layer, head)
    print(f"# {probe_id} layer {layer} head {head}: {rec.n_tokens} tokens; rows = queries")
    np.set_printoptions(linewidth=200, precision=3, suppress=True)
    labels = [repr(s)[1:-1][:width] for s in rec.token_strings]
    for q, label in enumerate(labels):
        row = " ".join(f"{v:.2f}" for v in amap[q, : q + 1])
        ent = rec.entropy[layer, head, q]
        print(f"{q:4d} {label:>{width}} H={ent:.2f} | {row}")


def _cmd_show_cross(
    store: AttentionStore, probe_id: str, layer: int, head: int, width: int
) -> None:
    rec = store.record(probe_id, attention=False)
    if rec.cross_layers is None:
        raise SystemExit(f"probe {probe_id}: no cross-attention (not a byte-branch model)")
    layers = [int(x) for x in rec.cross_layers]
    if layer not in layers:
        raise SystemExit(f"layer {layer} receives no cross-attention (cross layers: {layers})")
    amap = store.cross_attention_map(probe_id, layers.index(layer), head)  # [token, byte]
    print(
        f"# {probe_id} cross-attention into layer {layer} head {head}: rows = tokens, "
        "columns = the bytes up to the token's end (byte 0 = BOS byte)"
    )
    labels = [repr(s)[1:-1][:width] for s in rec.token_strings]
    for q, label in enumerate(labels):
        end = int(rec.token_byte_ends[q])
        row = " ".join(f"{v:.2f}" for v in amap[q, :end])
        print(f"{q:4d} {label:>{width}} | {row}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tokattn.attention_store`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tokattn.attention_store", description="Inspect a tokattn attention store."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_list = sub.add_parser("list", help="print the root attributes and the probes")
    p_list.add_argument("file")
    p_show = sub.add_parser("show", help="print one attention map")
    p_show.add_argument("file")
    p_show.add_argument("probe")
    p_show.add_argument("layer", type=int)
    p_show.add_argument("head", type=int)
    p_show.add_argument("--width", type=int, default=12, help="token label width")
    p_show.add_argument(
        "--cross", action="store_true", help="the byte cross-attention into LAYER instead"
    )
    args = parser.parse_args(argv)
    try:
        with AttentionStore(args.file) as store:
            if args.cmd == "list":
                _cmd_list(store)
            elif args.cross:
                _cmd_show_cross(store, args.probe, args.layer, args.head, args.width)
            else:
                _cmd_show(store, args.probe, args.layer, args.head, args.width)
    except (AttentionStoreError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

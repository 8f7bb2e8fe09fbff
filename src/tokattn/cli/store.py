"""Command line of the attention store: `python -m tokattn.cli.store list|show ...`."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import AttentionStoreError, decode_attr


def _cmd_list(store: AttentionStore) -> None:
    print(f"# {store.path}")
    for key in sorted(store.attrs):
        print(f"#   {key}: {store.attrs[key]}")
    print("probe\tkind\tlanguage\tdomain\tn_tokens\tn_bytes")
    for probe_id in store.probe_ids:
        g = store._group(probe_id)
        text = decode_attr(g.attrs["text"])
        print(
            f"{probe_id}\t{decode_attr(g.attrs['kind'])}\t{decode_attr(g.attrs['language'])}\t"
            f"{decode_attr(g.attrs['domain'])}\t{int(g.attrs['n_tokens'])}\t"
            f"{len(text.encode('utf-8'))}"
        )


def _parse_head(value: str) -> int | None:
    """Return a 0-based head index, or None for `mean` (the mean over heads)."""
    if value == "mean":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"head must be a 0-based index or 'mean', not {value!r}"
        ) from None


def _row_entropy_nats(row: np.ndarray) -> float:
    """Return the entropy in nats (natural log) of one attention row."""
    p = row[row > 0].astype(np.float64)
    return float(-(p * np.log(p)).sum())


def _cmd_show(
    store: AttentionStore, probe_id: str, layer: int, head: int | None, width: int
) -> None:
    rec = store.record(probe_id, attention=False)
    if not 0 <= layer < rec.n_layers or (head is not None and not 0 <= head < rec.n_heads):
        raise SystemExit(
            f"layer/head out of range: {rec.n_layers} layers (0..{rec.n_layers - 1}), "
            f"{rec.n_heads} heads (0..{rec.n_heads - 1}, or 'mean')"
        )
    if head is None:
        amap = np.mean([store.attention_map(probe_id, layer, h) for h in range(rec.n_heads)], 0)
        entropy = np.array([_row_entropy_nats(amap[q, : q + 1]) for q in range(rec.n_tokens)])
        which = f"mean over {rec.n_heads} heads"
    else:
        amap = store.attention_map(probe_id, layer, head)
        entropy = rec.entropy[layer, head]
        which = f"head {head}"
    print(
        f"# {probe_id} layer {layer} {which}: {rec.n_tokens} tokens; rows = queries, "
        "columns = keys 0..query; H = row entropy in nats"
    )
    np.set_printoptions(linewidth=200, precision=3, suppress=True)
    labels = [repr(s)[1:-1][:width] for s in rec.token_strings]
    for q, label in enumerate(labels):
        row = " ".join(f"{v:.2f}" for v in amap[q, : q + 1])
        print(f"{q:4d} {label:>{width}} H={entropy[q]:.2f} | {row}")


def _cmd_show_cross(
    store: AttentionStore, probe_id: str, layer: int, head: int | None, width: int
) -> None:
    rec = store.record(probe_id, attention=False)
    if rec.cross_layers is None:
        raise SystemExit(f"probe {probe_id}: no cross-attention (not a byte-branch model)")
    layers = [int(x) for x in rec.cross_layers]
    if layer not in layers:
        raise SystemExit(f"layer {layer} receives no cross-attention (cross layers: {layers})")
    i = layers.index(layer)
    n_heads = int(store._group(probe_id)["cross_attention"].shape[1])
    if head is not None and not 0 <= head < n_heads:
        raise SystemExit(f"head out of range: {n_heads} cross-attention heads (0..{n_heads - 1})")
    if head is None:
        maps = [store.cross_attention_map(probe_id, i, h) for h in range(n_heads)]
        amap = np.mean(maps, 0)  # [token, byte]
        which = f"mean over {n_heads} heads"
    else:
        amap = store.cross_attention_map(probe_id, i, head)  # [token, byte]
        which = f"head {head}"
    print(
        f"# {probe_id} cross-attention into layer {layer} {which}: rows = tokens, "
        "columns = the bytes up to the token's end (byte 0 = BOS byte)"
    )
    labels = [repr(s)[1:-1][:width] for s in rec.token_strings]
    for q, label in enumerate(labels):
        end = int(rec.token_byte_ends[q])
        row = " ".join(f"{v:.2f}" for v in amap[q, :end])
        print(f"{q:4d} {label:>{width}} | {row}")


_NOTES = """\
layers and heads are 0-based: layer 0 is the first decoder layer, head 0 the first head;
HEAD may be 'mean' for the mean over all heads of the layer. `show` prints one row per
query token: its index, its text, H = the entropy of its attention row in nats (natural
log; divide by ln 2 = 0.693 for bits), then its attention weights on keys 0..query
(each row sums to 1). With --cross, LAYER is a main layer that receives the byte branch
and the columns are bytes.
"""


def _epilog(prog: str) -> str:
    return (
        f"{_NOTES}\nexamples:\n"
        f"  {prog} list results/tiny/attention/byte/seed0.h5\n"
        f"  {prog} show results/tiny/attention/byte/seed0.h5 simple-en-0 1 3\n"
        f"  {prog} show results/tiny/attention/byte/seed0.h5 simple-en-0 0 mean\n"
    )


def parser(prog: str = "python -m tokattn.cli.store") -> argparse.ArgumentParser:
    """Return the argument parser of the attention-store CLI."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Inspect a tokattn attention store (.h5): list its probes, print one "
        "attention map.",
        epilog=_epilog(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{list,show}")
    p_list = sub.add_parser(
        "list",
        help="print the root attributes and one line per probe (tokens, UTF-8 bytes)",
        description="Print the store's root attributes and one line per probe: id, kind, "
        "language, domain, number of tokens, number of UTF-8 bytes.",
    )
    p_list.add_argument("file", help="attention store (.h5)")
    p_show = sub.add_parser(
        "show",
        help="print one attention map (rows = queries) with row entropies in nats",
        description="Print the attention map of one probe, layer and head (or the mean "
        "over heads): one row per query token, its row entropy H in nats, and its "
        "attention weights on keys 0..query.",
        epilog=_epilog(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_show.add_argument("file", help="attention store (.h5)")
    p_show.add_argument("probe", help="probe id (see `list`)")
    p_show.add_argument("layer", type=int, help="0-based layer index")
    p_show.add_argument(
        "head", type=_parse_head, help="0-based head index, or 'mean' for the mean over heads"
    )
    p_show.add_argument("--width", type=int, default=12, help="token label width (characters)")
    p_show.add_argument(
        "--cross", action="store_true", help="the byte cross-attention into LAYER instead"
    )
    return p


def main(argv: list[str] | None = None, prog: str = "python -m tokattn.cli.store") -> int:
    """Run the attention-store CLI; return the exit status."""
    args = parser(prog).parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())

"""Segmentation diff: how every tokenizer cuts each stress probe, as byte spans."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from tokattn.attention.probes import STRESS_KINDS
from tokattn.common.atomic_files import write_text_atomic


def segment_probes(probes: Sequence[Mapping], tokenizers: Mapping[str, object]) -> list[dict]:
    """Return per stress probe the byte span [start, end) of each token, per tokenizer."""
    from tokattn.tokenizing.tokenization import token_byte_spans

    out = []
    for probe in probes:
        if probe.get("kind") not in STRESS_KINDS:
            continue
        text = probe["text"]
        out.append(
            {
                "probe_id": probe["id"],
                "kind": probe["kind"],
                "text": text,
                "n_bytes": len(text.encode("utf-8")),
                "tokenizers": {
                    name: [list(map(int, span)) for span in token_byte_spans(tok, text)]
                    for name, tok in tokenizers.items()
                },
            }
        )
    return out


def write_segmentation(
    probes: Sequence[Mapping], tokenizer_dirs: Mapping[str, str | Path], out_path: str | Path
) -> list[dict]:
    """Load each tokenizer folder, segment the stress probes, write JSON; return the rows."""
    from tokattn.tokenizing.folder import load_tokenizer

    tokenizers = {name: load_tokenizer(path) for name, path in tokenizer_dirs.items()}
    rows = segment_probes(probes, tokenizers)
    write_text_atomic(out_path, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    return rows

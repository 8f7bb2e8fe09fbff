"""Attention stores for the viewer tests: real dumps of tiny random Llamas, and synthetic ones.

`dump_tiny_stores` trains nothing: it saves a tiny random Llama with a byte-level and one
with a BPE tokenizer (tests/tiny_models.py) and runs the real attention dump on a few
probes, multi-byte text included. `synthetic_store` writes a long probe (2,048 tokens by
default) through the real store writer with peaked random attention, for the size and
responsiveness checks. `cross_record` adds the byte-branch fields (cross-attention).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tokattn.attention.lower_triangle import pack_lower
from tokattn.attention.store_format import AttentionRecord
from tokattn.attention.store_writer import AttentionStoreWriter

PROBES = [
    {
        "id": "mixed-0",
        "text": "Grüße aus Köln! Москва — 東京は首都。 The end.",
        "language": "de",
        "domain": "news",
        "kind": "simple",
    },
    {
        "id": "repeat-0",
        "text": "The pass key is 48213. Remember it. The pass key is 48213.",
        "language": "en",
        "domain": "technical",
        "kind": "repeat",
    },
]


def write_probes(path: Path, probes: list[dict] = PROBES) -> Path:
    """Write a probes.jsonl file; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for probe in probes:
            fh.write(json.dumps({**probe, "meta": {}}, ensure_ascii=False) + "\n")
    return path


def dump_tiny_stores(root: Path) -> dict[str, Path]:
    """Dump a byte-level and a BPE tiny Llama on PROBES; return {name: store path}."""
    from tests.tiny_models import save_tiny_model
    from tokattn.attention.dump import dump_attention

    probes = write_probes(root / "probes.jsonl")
    out = {}
    for seed, kind in enumerate(("byte", "bpe")):
        model_dir = save_tiny_model(root / "models" / kind, kind=kind, seed=seed)
        _sharpen(model_dir)
        out[kind] = dump_attention(
            model_dir,
            probes,
            root / "attention" / kind / "seed0.h5",
            f"tiny-{kind}",
            0,
            {"top_k": 3, "device": "cpu", "compression": "lzf"},
        )
    return out


def session_tiny_stores(tmp_path_factory) -> dict[str, Path]:
    """`dump_tiny_stores` once per pytest session: the viewer unit tests and the browser
    tests both use these stores, and session fixtures of two conftests are not shared."""
    root = tmp_path_factory.getbasetemp() / "viewer-tiny-stores"
    done = root / "stores.json"
    if done.is_file():
        return {kind: Path(path) for kind, path in json.loads(done.read_text()).items()}
    if root.exists():  # an earlier dump in this session failed part-way: start over
        import shutil

        shutil.rmtree(root)
    stores = dump_tiny_stores(root)
    done.write_text(json.dumps({kind: str(path) for kind, path in stores.items()}))
    return stores


def _sharpen(model_dir: Path) -> None:
    """Scale the query projections so the random model's maps are not near-uniform."""
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_dir)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(8)
    model.save_pretrained(model_dir)


def peaked_attention(n_tokens: int, n_layers: int, n_heads: int, seed: int = 0) -> np.ndarray:
    """Return random causal maps [layer, head, q, k] float32, rows summing to 1."""
    rng = np.random.default_rng(seed)
    q = np.arange(n_tokens)[:, None]
    k = np.arange(n_tokens)[None, :]
    maps = np.zeros((n_layers, n_heads, n_tokens, n_tokens), np.float32)
    for layer in range(n_layers):
        for head in range(n_heads):
            # A sink on BOS, a local bump of random width, and noise: shaped like real heads.
            width = 1.0 + 4.0 * rng.random()
            logits = 2.0 * rng.standard_normal((n_tokens, n_tokens)) - ((q - k) / width) ** 2
            logits[:, 0] += 3.0
            logits = np.where(k <= q, logits, -np.inf)
            logits -= logits.max(axis=1, keepdims=True)
            weights = np.exp(logits)
            maps[layer, head] = weights / weights.sum(axis=1, keepdims=True)
    return maps


def synthetic_record(
    probe_id: str = "long-0",
    n_tokens: int = 2048,
    n_layers: int = 4,
    n_heads: int = 4,
    seed: int = 0,
) -> AttentionRecord:
    """Return a record of `n_tokens` tokens (BOS + one ASCII byte per token) with random maps."""
    rng = np.random.default_rng(seed)
    words = ["tokens", "attend", "to", "the", "bytes", "of", "a", "long", "probe", "text"]
    text = ""
    while len(text) < n_tokens - 1:
        text += ("" if not text else " ") + words[int(rng.integers(len(words)))]
    text = text[: n_tokens - 1]
    spans = np.array([[0, 0]] + [[i, i + 1] for i in range(n_tokens - 1)], np.int32)
    maps = peaked_attention(n_tokens, n_layers, n_heads, seed)
    packed = pack_lower(maps).astype(np.float16)  # [layer, head, packed]
    lens_probs = rng.random((n_layers, n_tokens, 2)).astype(np.float32)
    lens_probs.sort(axis=-1)
    zeros = np.zeros((n_layers, n_heads, n_tokens), np.float32)
    return AttentionRecord(
        probe_id=probe_id,
        text=text,
        language="en",
        domain="synthetic",
        kind="long",
        meta={},
        token_ids=np.array([0] + [ord(c) for c in text], np.int32),
        token_strings=["<s>", *text],
        byte_spans=spans,
        window_start=np.zeros(n_tokens, np.int32),
        attention=packed,
        entropy=zeros,
        head_norm=zeros,
        head_cosine=zeros,
        attn_out_norm=np.zeros((n_layers, n_tokens), np.float32),
        decomposition_error=np.zeros(n_layers, np.float32),
        lens_ids=rng.integers(4, 260, (n_layers, n_tokens, 2)).astype(np.int32),
        lens_probs=lens_probs[..., ::-1].copy(),
    )


def synthetic_store(path: Path, **kwargs) -> Path:
    """Write a store holding one `synthetic_record(**kwargs)`; return its path."""
    attrs = {"model": "synthetic", "seed": 0, "model_path": ""}
    with AttentionStoreWriter(path, attrs, compression="lzf") as writer:
        writer.write(synthetic_record(**kwargs))
    return path


def cross_record(record: AttentionRecord, cross_layers=(1,), n_cross_heads: int = 2, seed=0):
    """Return `record` with byte-branch fields: cross-attention of each token over the bytes.

    As the byte-branch dump writes them: the byte frame is BOS (byte id 256) and then the
    text's bytes; a token sees the BOS byte and the bytes before its end.
    """
    rng = np.random.default_rng(seed)
    text_bytes = record.text.encode("utf-8")
    n_frame, n_tokens = len(text_bytes) + 1, record.n_tokens
    ends = record.byte_spans[:, 1] + 1  # exclusive end in the frame (BOS byte first)
    shape = (len(cross_layers), n_cross_heads, n_tokens, n_frame)
    logits = rng.standard_normal(shape) * 2  # [n_cross, head, pos, byte_pos]
    visible = np.arange(n_frame)[None, :] < ends[:, None]  # [pos, byte_pos]
    logits = np.where(visible, logits, -np.inf)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    record.byte_ids = np.concatenate([[256], np.frombuffer(text_bytes, np.uint8)]).astype(np.int16)
    record.token_byte_ends = ends.astype(np.int32)
    record.cross_layers = np.array(cross_layers, np.int32)
    record.cross_attention = (weights / weights.sum(-1, keepdims=True)).astype(np.float16)
    return record

"""Dump every attention map of a model on the probe set into an HDF5 attention store.

One probe at a time: tokenize (with byte spans), run the model in windows no longer
than its context, decompose every layer's attention output by head, apply the logit
lens, and hand one `AttentionRecord` to the writer. Nothing but the current probe is
held in memory.

Windowing (probes longer than the context, documented in docs/attention-store.md): the
first window holds the first ``context`` tokens; each later window ends ``stride`` tokens
(default context/2) after the previous one and keeps only those ``stride`` new queries,
so every query sees at least ``context - stride`` earlier tokens (all of them when the
probe fits).
Windows after the first are prefixed with the BOS token, whose attention is stored at
key 0 (the probe's own BOS), so rows still sum to 1 and the attention sink stays where
it is. Keys outside a query's window get attention 0; `window_start[q]` records where
its window began.

Byte-branch models also yield cross-attention maps (token × byte). They are stored in the
probe's byte frame (BOS byte, then the bytes of every token; `byte_inputs` of the whole
probe): a window's own frame (BOS byte, then the bytes of its tokens) is mapped into it
token by token, so a kept query's row lands on the probe bytes it read and is 0 elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from tokattn.attention.byte_branch_dump import (
    byte_branch_summary,
    byte_frame,
    is_byte_branch,
    window_byte_index,
)
from tokattn.attention.head_decomposition import (
    Architecture,
    architecture,
    attention_entropy,
    context_length,
    head_stats,
    iterative_logit_lens,
    logit_lens,
    model_summary,
    run_with_capture,
)
from tokattn.attention.lower_triangle import row_offsets
from tokattn.attention.store_format import AttentionRecord
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.common.model_checks import check_finite_arrays, check_finite_model

log = logging.getLogger(__name__)
# Attention maps, checked for NaN/inf as they are computed (probe_record).
MAP_FIELDS = ("attention", "cross_attention")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class DumpConfig:
    """Options of the attention dump (config key `attention`)."""

    top_k: int = 5
    iterative_lens_k: int = 0
    dtype: str = "float32"
    device: str = "auto"
    add_bos: bool = True
    context_tokens: int | None = None  # None: the model's own context length
    window_stride_tokens: int | None = None  # None: context // 2
    compression: str = "blosc2"
    compression_level: int | None = 1

    @classmethod
    def from_mapping(cls, cfg: Mapping) -> DumpConfig:
        """Return a DumpConfig from a config mapping, ignoring keys of other stages."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in cfg.items() if k in names})


@dataclass(frozen=True)
class Window:
    """One forward pass: tokens `index` of the probe; queries [q_from, q_to) are kept."""

    index: np.ndarray  # [window_pos] probe positions fed to the model
    q_from: int
    q_to: int
    start: int  # first probe position of the window's body (after the BOS prefix)


def plan_windows(n_tokens: int, context: int, stride: int, bos_prefix: bool) -> list[Window]:
    """Return the windows covering `n_tokens` positions (see the module docstring)."""
    if n_tokens <= context:
        return [Window(np.arange(n_tokens), 0, n_tokens, 0)]
    body = context - 1 if bos_prefix else context  # probe tokens per later window
    if not 0 < stride <= body:
        raise ValueError(f"window stride {stride} must be in 1..{body} for context {context}")
    windows = [Window(np.arange(context), 0, context, 0)]
    q_from = context
    while q_from < n_tokens:
        # Each later window keeps `stride` new queries and ends at the last of them.
        end = min(q_from + stride, n_tokens)
        start = end - body
        idx = np.arange(start, end)
        if bos_prefix:
            idx = np.concatenate([[0], idx])
        windows.append(Window(idx, q_from, end, start))
        q_from = end
    return windows


def resolve_device(name: str) -> torch.device:
    """Return the torch device for 'auto', 'cpu' or 'cuda'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("attention.device is 'cuda' but no GPU is visible")
    return torch.device(name)


def load_causal_lm(path: str, dtype: str = "float32", device: str = "cpu", hub: bool = False):
    """Return (model, tokenizer) from a local folder (or a hub id when `hub`), eager attention."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import tokattn.training.byte_branch  # noqa: F401  (registers the byte-branch model class)

    if not hub and not Path(path).is_dir():
        raise FileNotFoundError(
            f"model folder {path} not found (a hub id is fetched only with `hub: true`)"
        )
    # output_attentions needs eager attention: SDPA/flash kernels never form the weights.
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=DTYPES[dtype], attn_implementation="eager", local_files_only=not hub
    )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=not hub)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{path}: byte spans need a fast (tokenizers-backed) tokenizer")
    model = model.to(resolve_device(device)).eval()
    check_finite_model(model, path)
    return model, tokenizer


def encode_probe(tokenizer, text: str, add_bos: bool) -> tuple[list[int], list[str], np.ndarray]:
    """Return token ids, token strings and byte spans [pos, 2] of `text` (BOS first if asked)."""
    from tokattn.tokenizing.tokenization import token_byte_spans

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    spans = token_byte_spans(tokenizer, text)
    if len(spans) != len(ids):
        raise RuntimeError(f"{len(ids)} tokens but {len(spans)} byte spans")
    if add_bos:
        bos = tokenizer.bos_token_id
        if bos is None:
            bos = tokenizer.eos_token_id
        if bos is None:
            raise ValueError("add_bos is set but the tokenizer has neither a BOS nor an EOS token")
        ids, spans = [bos, *ids], [(0, 0), *spans]
    strings = tokenizer.convert_ids_to_tokens(ids)
    return ids, strings, np.asarray(spans, dtype=np.int32).reshape(-1, 2)


def _fill_window(
    arch: Architecture,
    capture,
    window: Window,
    out: dict,
    cfg: DumpConfig,
    byte_index: np.ndarray | None = None,
) -> None:
    """Copy the kept queries of one window into the probe-level arrays in `out`."""
    idx = window.index
    local_q = np.nonzero((idx >= window.q_from) & (idx < window.q_to))[0]
    global_q = idx[local_q]
    n_layers = len(arch.layers)
    # Packed destination of (query, key) pairs kept: row offset of the query + global key.
    qq, kk = np.tril_indices(len(idx))
    keep = np.isin(qq, local_q)
    qq, kk = qq[keep], kk[keep]
    dest = row_offsets(int(idx.max()) + 1)[idx[qq]] + idx[kk]
    lq = torch.as_tensor(local_q)
    qq_t, kk_t = torch.as_tensor(qq), torch.as_tensor(kk)
    out["window_start"][global_q] = window.start
    for layer in range(n_layers):
        attn = capture.attentions[layer]  # [head, q, k]
        out["attention"][layer][:, dest] = attn[:, qq_t, kk_t].to(torch.float16).cpu().numpy()
        out["entropy"][layer][:, global_q] = attention_entropy(attn[:, lq]).cpu().numpy()
        stats = head_stats(
            arch.layers[layer], capture.head_inputs[layer][lq], capture.attn_outputs[layer][lq]
        )
        out["head_norm"][layer][:, global_q] = stats.norm.cpu().numpy()
        out["head_cosine"][layer][:, global_q] = stats.cosine.cpu().numpy()
        out["head_additive"][layer][:, global_q] = stats.additive.cpu().numpy()
        out["bias_additive"][layer][global_q] = stats.bias_additive.cpu().numpy()
        out["attn_out_norm"][layer][global_q] = stats.out_norm.cpu().numpy()
        out["decomposition_error"][layer] = max(out["decomposition_error"][layer], stats.max_error)
        resid = capture.residuals[layer][lq]
        ids, probs = logit_lens(arch, resid, cfg.top_k)
        out["lens_ids"][layer][global_q] = ids.cpu().numpy()
        out["lens_probs"][layer][global_q] = probs.cpu().numpy()
        if cfg.iterative_lens_k:
            ids, probs = iterative_logit_lens(arch, resid, cfg.iterative_lens_k)
            out["iter_lens_ids"][layer][global_q] = ids.cpu().numpy()
            out["iter_lens_probs"][layer][global_q] = probs.cpu().numpy()
    if byte_index is not None:
        for i, cross in enumerate(capture.cross_attentions):  # [cross_head, q, byte_w]
            rows = cross[:, lq].to(torch.float16).cpu().numpy()
            out["cross_attention"][i][:, global_q[:, None], byte_index[None, :]] = rows


@torch.no_grad()
def probe_record(
    model, arch: Architecture, tokenizer, probe: Mapping, cfg: DumpConfig, context: int, stride: int
) -> AttentionRecord:
    """Return the AttentionRecord of one probe (all layers, heads and positions)."""
    ids, strings, spans = encode_probe(tokenizer, probe["text"], cfg.add_bos)
    n, n_layers, n_heads = len(ids), len(arch.layers), arch.n_heads
    vocab_k = min(cfg.top_k, int(arch.lm_head.weight.shape[0]))
    out = {
        "attention": np.zeros((n_layers, n_heads, n * (n + 1) // 2), np.float16),
        "entropy": np.zeros((n_layers, n_heads, n), np.float32),
        "head_norm": np.zeros((n_layers, n_heads, n), np.float32),
        "head_cosine": np.zeros((n_layers, n_heads, n), np.float32),
        "head_additive": np.zeros((n_layers, n_heads, n), np.float32),
        "bias_additive": np.zeros((n_layers, n), np.float32),
        "attn_out_norm": np.zeros((n_layers, n), np.float32),
        "decomposition_error": np.zeros(n_layers, np.float32),
        "lens_ids": np.zeros((n_layers, n, vocab_k), np.int32),
        "lens_probs": np.zeros((n_layers, n, vocab_k), np.float32),
        "window_start": np.zeros(n, np.int32),
    }
    if cfg.iterative_lens_k:
        out["iter_lens_ids"] = np.zeros((n_layers, n, cfg.iterative_lens_k), np.int32)
        out["iter_lens_probs"] = np.zeros((n_layers, n, cfg.iterative_lens_k), np.float32)
    device = next(model.parameters()).device
    ids_t = torch.as_tensor(ids, dtype=torch.long)
    byte_branch = is_byte_branch(model)
    if byte_branch:
        byte_ids, ends = byte_frame(model, ids_t.to(device))
        cross_layers = np.asarray(model.config.cross_layers, np.int32)
        n_cross, cross_heads = len(cross_layers), int(model.config.cross_n_heads)
        out["cross_attention"] = np.zeros((n_cross, cross_heads, n, len(byte_ids)), np.float16)
    windows = plan_windows(n, context, stride, bos_prefix=cfg.add_bos)
    for window in windows:
        window_ids = ids_t[window.index].to(device)
        capture = run_with_capture(model, arch, window_ids)
        byte_index = None
        if byte_branch:
            w_bytes, w_ends = byte_frame(model, window_ids)
            byte_index = window_byte_index(w_ends, ends, window.index, len(w_bytes))
        _fill_window(arch, capture, window, out, cfg, byte_index)
    for name in MAP_FIELDS:
        # Finite weights can still overflow (float16 runs): a NaN map must not be stored.
        bad_layers = [i for i, maps in enumerate(out.get(name, [])) if not np.isfinite(maps).all()]
        if bad_layers:
            raise ValueError(
                f"probe {probe['id']!r}: {name}[{bad_layers[0]}] holds NaN or inf "
                f"(dtype {cfg.dtype}); nothing is stored for a non-finite map"
            )
    if byte_branch:
        out.update(
            byte_ids=byte_ids.astype(np.int16),
            token_byte_ends=ends.astype(np.int32),
            cross_layers=cross_layers,
        )
    meta = dict(probe.get("meta") or {})
    return AttentionRecord(
        probe_id=probe["id"],
        text=probe["text"],
        language=probe.get("language", ""),
        domain=probe.get("domain", ""),
        kind=probe.get("kind", ""),
        meta=meta,
        token_ids=np.asarray(ids, np.int32),
        token_strings=list(strings),
        byte_spans=spans,
        attrs={"n_windows": len(windows), "n_bytes": len(probe["text"].encode("utf-8"))},
        iter_lens_ids=out.pop("iter_lens_ids", None),
        iter_lens_probs=out.pop("iter_lens_probs", None),
        **out,
    )


def iter_probes(path: str | Path) -> Iterator[dict]:
    """Yield the probes of a probes.jsonl file one at a time."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def config_hash(*parts: Mapping) -> str:
    """Return a short SHA-256 of JSON-serialised config parts (sorted keys)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _provenance(model_path: str, tokenizer_dir: str | None) -> dict:
    """Return tokenizer name/hash and checkpoint step from the folders beside the model."""
    folder = Path(model_path)
    summary_path = folder / "train_summary.json"
    summary = json.loads(summary_path.read_text("utf-8")) if summary_path.is_file() else {}
    tokenizer_hash = ""
    if tokenizer_dir is not None:
        from tokattn.tokenizing.tokenization import tokenizer_hash as tok_hash
        from tokattn.tokenizing.tokenization import tokenizer_metadata

        try:
            tokenizer_hash = tokenizer_metadata(tokenizer_dir)["tokenizer_sha256"]
        except (FileNotFoundError, KeyError):
            tokenizer_hash = tok_hash(tokenizer_dir)
    elif (folder / "tokenizer.json").is_file():
        tokenizer_hash = _file_sha256(folder / "tokenizer.json")
    return {
        "tokenizer": summary.get("tokenizer")
        or (Path(tokenizer_dir).name if tokenizer_dir else folder.name),
        "tokenizer_hash": tokenizer_hash,
        "checkpoint_step": int(summary.get("steps", -1)),
        "train_fingerprint": summary.get("fingerprint", ""),
    }


def dump_attention(
    model_path: str | Path,
    probes_path: str | Path,
    out_path: str | Path,
    model_name: str,
    seed: int,
    cfg: DumpConfig | Mapping = DumpConfig(),
    tokenizer_dir: str | Path | None = None,
    hub: bool = False,
    extra_config: Mapping | None = None,
) -> Path:
    """Write the attention store of one model on every probe; return its path."""
    cfg = cfg if isinstance(cfg, DumpConfig) else DumpConfig.from_mapping(cfg)
    t0 = time.perf_counter()
    model, tokenizer = load_causal_lm(str(model_path), cfg.dtype, cfg.device, hub=hub)
    arch = architecture(model)
    context = min(cfg.context_tokens or context_length(model), context_length(model))
    stride = cfg.window_stride_tokens or max(1, context // 2)
    stride = min(stride, context - (1 if cfg.add_bos else 0))
    import transformers

    from tokattn import __version__

    attrs = {
        "model": model_name,
        "model_path": str(model_path),
        "seed": int(seed),
        **_provenance(str(model_path), None if tokenizer_dir is None else str(tokenizer_dir)),
        **model_summary(arch, model),
        **(byte_branch_summary(model) if is_byte_branch(model) else {}),
        "config_hash": config_hash(asdict(cfg), dict(extra_config or {})),
        "config_json": {"attention": asdict(cfg), **dict(extra_config or {})},
        "dtype": cfg.dtype,
        "attention_dtype": "float16",
        "context_tokens": context,
        "window_stride_tokens": stride,
        "add_bos": cfg.add_bos,
        "top_k": cfg.top_k,
        "iterative_lens_k": cfg.iterative_lens_k,
        "probes_sha256": _file_sha256(Path(probes_path)),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "tokattn_version": __version__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    n = 0
    with AttentionStoreWriter(out_path, attrs, cfg.compression, cfg.compression_level) as writer:
        for probe in iter_probes(probes_path):
            record = probe_record(model, arch, tokenizer, probe, cfg, context, stride)
            # A model can be finite on the short check input and overflow on a probe; the
            # maps themselves were checked in probe_record, the derived arrays are here.
            derived = {k: v for k, v in vars(record).items() if k not in MAP_FIELDS}
            check_finite_arrays(derived, f"model {model_path}: probe {record.probe_id}")
            writer.write(record)
            n += 1
    log.info(
        "dumped %d probes of %s seed %s to %s in %.1f s",
        n,
        model_name,
        seed,
        out_path,
        time.perf_counter() - t0,
    )
    return Path(out_path)

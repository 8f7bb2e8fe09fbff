"""Time one optimizer step of tokattn's training loop against a bare PyTorch loop.

    python benchmarks/bench_train_step.py                       # CPU, small model, fp32
    python benchmarks/bench_train_step.py --preset 20m --device cuda     # compile + bf16 + SDPA
    python benchmarks/bench_train_step.py --preset 124m --device cuda --micro-batch 16

Both loops train the same `LlamaForCausalLM` (same arm, seed, batch, context, dtype,
attention kernel, torch.compile setting) on the same synthetic token stream, in the same
process, alternating (bare, tokattn, bare, ...) for --repeats rounds:

- tokattn: `tokattn.training.train.train_model` end to end on a pre-tokenized split written for
  the benchmark (uniform random ids, one byte per token). Its per-step time comes from
  train_log.csv (tokens/s per log interval), so it includes everything the loop does per
  step: reading windows from the memmap, masking, autocast, loss, backward, clipping,
  AdamW, the LR schedule, byte/token accounting. Set-up, evaluation and export are not
  timed (the loop itself excludes evaluation from its throughput).
- bare: the minimal loop a researcher would write: batches already on the device,
  forward, cross-entropy, backward, grad clipping, AdamW (fused on CUDA), zero_grad.

Per loop: the median over log intervals after the first (warm-up / compilation), best
round. Prints wall and CPU ms/step, tokens/s, MFU where a peak is known, and the ratio
tokattn / bare -- of CPU time on a CPU run with one thread (the default: steady when
other jobs share the cores), of wall time otherwise; exits 1 when it exceeds --target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

PRESETS = {
    # name: arm shape, vocabulary, context, micro-batch
    "cpu": dict(d_model=128, n_layers=4, n_heads=4, d_ff=352, vocab=4096, context=256, micro=8),
    "20m": dict(d_model=384, n_layers=8, n_heads=6, d_ff=1024, vocab=16384, context=1024, micro=32),
    "124m": dict(
        d_model=768, n_layers=12, n_heads=12, d_ff=2048, vocab=50304, context=1024, micro=16
    ),
}


def write_split(directory: Path, split: str, n_tokens: int, vocab: int, seed: int) -> None:
    """Write a synthetic pre-tokenized split (tokattn.training.tokenized layout), 1 byte per token."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, vocab, size=n_tokens, dtype=np.int64)
    doc_len = 4096
    ids[doc_len - 1 :: doc_len] = 1  # an EOS every doc_len tokens
    dtype = np.uint16 if vocab <= 2**16 else np.uint32
    ids.astype(dtype).tofile(directory / f"{split}.bin")
    np.ones(n_tokens, dtype=np.uint16).tofile(directory / f"{split}.bytes.bin")
    offsets = np.append(np.arange(0, n_tokens, doc_len), n_tokens).astype(np.int64)
    np.save(directory / f"{split}.docs.npy", offsets)
    meta = {
        "schema_version": 1,
        "split": split,
        "tokenizer": "synthetic",
        "tokenizer_sha256": "0" * 64,
        "vocab_size": vocab,
        "ids_dtype": np.dtype(dtype).name,
        "bytes_dtype": "uint16",
        "eos_token_id": 1,
        "special_token_ids": {"bos": 0, "eos": 1, "pad": 2, "unk": 3},
        "n_docs": len(offsets) - 1,
        "n_tokens": n_tokens,
        "n_bytes": n_tokens,
        "bytes_per_token": 1.0,
    }
    (directory / f"{split}.json").write_text(json.dumps(meta))


def bare_loop(spec, args, device, dtype, ids: np.ndarray) -> list[tuple[float, float]]:
    """Return (wall, CPU) seconds per step for each log interval of a bare PyTorch loop."""
    import torch
    import torch.nn.functional as F

    from tokattn.training.model import build_model

    model = build_model(spec, seed=0, attn_implementation="sdpa").to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3,
        betas=(0.9, 0.95),
        **({"fused": True} if device.type == "cuda" else {}),
    )
    fwd = torch.compile(model) if args.compile else model
    T, B = spec.context_tokens, args.micro_batch
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(ids) - T - 1, size=(args.steps, B))
    rows = np.stack([np.stack([ids[s : s + T + 1] for s in step]) for step in starts])
    data = torch.from_numpy(rows.astype(np.int64)).to(device)  # (steps, B, T+1)
    inputs, targets = data[:, :, :-1].contiguous(), data[:, :, 1:].contiguous()
    autocast = (
        torch.autocast(device_type=device.type, dtype=dtype)
        if dtype != torch.float32
        else torch.autocast(device_type=device.type, enabled=False)
    )
    intervals = []

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0, c0 = time.perf_counter(), time.thread_time()
    for step in range(args.steps):
        x, y = inputs[step], targets[step]  # (B, T)
        with autocast:
            logits = fwd(input_ids=x, use_cache=False).logits
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % args.log_interval == 0:
            loss.item()  # the same host sync the tokattn loop does per log row
            sync()
            now, cpu = time.perf_counter(), time.thread_time()
            intervals.append(((now - t0) / args.log_interval, (cpu - c0) / args.log_interval))
            t0, c0 = now, cpu
    return intervals


def tokattn_loop(
    args, arm: dict, tokenized: Path, tokenizer_dir: Path, work: Path
) -> list[tuple[float, float]]:
    """Return (wall, CPU) seconds per step for each log interval of tokattn's loop.

    The loop adds one train_log row per log interval; the benchmark stamps the clocks at
    each row (a wrapper around TrainLog.add), which changes nothing in the loop itself.
    """
    from tokattn.training import train_log
    from tokattn.training.train import train_model

    training = {
        "budget_bytes": args.steps * args.micro_batch * arm["context_tokens"],
        "batch_size": args.micro_batch,
        "micro_batch_size": args.micro_batch,
        "lr": 1e-3,
        "min_lr": 1e-4,
        "warmup_fraction": 0.1,
        "eval_interval": 10**9,
        "eval_bytes": arm["context_tokens"],
        "checkpoint_interval": 10**9,
        "log_interval": args.log_interval,
        "compile": args.compile,
        "dtype": args.dtype,
        "device": args.device,
    }
    stamps = []
    original_add = train_log.TrainLog.add

    def stamped_add(self, row):
        stamps.append((row["step"], time.perf_counter(), time.thread_time()))
        original_add(self, row)

    out = Path(tempfile.mkdtemp(dir=work))
    train_log.TrainLog.add = stamped_add
    try:
        train_model(arm, [arm], training, 0, tokenizer_dir, tokenized, out / "m", out / "c")
    finally:
        train_log.TrainLog.add = original_add
    # Intervals between rows; the first (warm-up) is before the first row, and the last
    # row is stamped after the final evaluation, so it is left out.
    stamps = stamps[:-1]
    return [
        ((t1 - t0) / (s1 - s0), (c1 - c0) / (s1 - s0))
        for (s0, t0, c0), (s1, t1, c1) in zip(stamps, stamps[1:], strict=False)
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile both loops (default: on for cuda, off for cpu)")  # fmt: skip
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps per loop and round")
    parser.add_argument("--log-interval", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default 1 on cpu: CPU time then measures "
                        "the work even when other jobs share the cores)")  # fmt: skip
    parser.add_argument("--target", type=float, default=1.10)
    args = parser.parse_args(argv)

    import torch

    from tokattn.tokenizing.tokenization import train_tokenizer
    from tokattn.training.model import build_model as _build
    from tokattn.training.model import (
        flops_per_token,
        gpu_peak_tflops,
        parameter_counts,
        resolve_arm,
    )
    from tokattn.training.train_config import resolve_dtype

    preset = PRESETS[args.preset]
    args.micro_batch = args.micro_batch or preset["micro"]
    args.compile = args.device == "cuda" if args.compile is None else args.compile
    args.steps = args.steps or (40 if args.device == "cuda" else 30)
    args.threads = args.threads or (1 if args.device == "cpu" else None)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    arm = {
        "name": f"bench_{args.preset}",
        "tokenizer": "synthetic",
        "d_model": preset["d_model"],
        "n_layers": preset["n_layers"],
        "n_heads": preset["n_heads"],
        "d_ff": preset["d_ff"],
        "context_tokens": preset["context"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokenized = work / "tokenized"
        tokenized.mkdir()
        n_tokens = max(200_000, 4 * args.micro_batch * (preset["context"] + 1))
        for split, seed in (("train", 0), ("val", 1)):
            write_split(tokenized, split, n_tokens, preset["vocab"], seed)
        # The export at the end of train_model saves a tokenizer beside the model; a byte
        # tokenizer needs no training data. The model's vocabulary comes from the split.
        tokenizer_dir = work / "tokenizer"
        train_tokenizer({"name": "byte", "kind": "byte"}, work / "none.parquet", tokenizer_dir)
        specials = {"bos": 0, "eos": 1, "pad": 2, "unk": 3}
        spec = resolve_arm(arm, {}, preset["vocab"], 1.0, specials)
        counts = parameter_counts(_build(spec, seed=0))
        fpt = flops_per_token(spec, counts["non_embedding"])
        peak = gpu_peak_tflops(device)
        ids = np.fromfile(
            tokenized / "train.bin", dtype=np.uint16 if preset["vocab"] <= 2**16 else np.uint32
        )
        results = {"bare": [], "tokattn": []}
        for _ in range(args.repeats):
            bare = bare_loop(spec, args, device, dtype, ids)[1:]  # first: warm-up, compile
            ours = tokattn_loop(args, arm, tokenized, tokenizer_dir, work)
            for loop, intervals in (("bare", bare), ("tokattn", ours)):
                results[loop].append(
                    tuple(statistics.median(x) for x in zip(*intervals, strict=True))
                )

    tokens_per_step = args.micro_batch * spec.context_tokens
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"machine: {where or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"model: {args.preset} ({counts['total'] / 1e6:.1f}M params, "
        f"{counts['non_embedding'] / 1e6:.1f}M non-embedding), context {spec.context_tokens}, "
        f"micro-batch {args.micro_batch}, dtype {str(dtype).removeprefix('torch.')}, "
        f"compile {args.compile}, sdpa; {args.steps} steps × {args.repeats} rounds"
    )
    # On CPU with one thread the CPU time of the loop's thread is the steadier measure
    # (wall time also counts waiting for cores other jobs hold); on CUDA it is wall time.
    measure = 1 if device.type == "cpu" and args.threads == 1 else 0
    best = {}
    for loop in ("bare", "tokattn"):
        wall, cpu = min(results[loop], key=lambda r: r[measure])
        best[loop] = (wall, cpu)[measure]
        tps = tokens_per_step / wall
        mfu = f"{100 * fpt * tps / (peak * 1e12):.1f}%" if peak else "n/a"
        rounds = ", ".join(f"{1000 * r[measure]:.1f}" for r in results[loop])
        print(f"{loop:8s} wall {1000 * wall:9.2f} ms/step  CPU {1000 * cpu:9.2f} ms/step  "
              f"{tps:11.0f} tokens/s  MFU {mfu:>6s}  (rounds: {rounds} ms)")  # fmt: skip
    ratio = best["tokattn"] / best["bare"]
    print(
        f"ratio tokattn/bare ({('wall', 'CPU')[measure]} time): {ratio:.3f} "
        f"(target <= {args.target:.2f})"
    )
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())

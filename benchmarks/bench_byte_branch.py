"""Extra parameters and training-step time of the byte-level branch over the plain model.

    python benchmarks/bench_byte_branch.py                  # CPU, 1 torch thread, fp32
    python benchmarks/bench_byte_branch.py --device cuda    # GPU (fp32 weights, bf16 autocast)

Every model shares one main decoder shape (default d2 256, 4 layers, 4 heads, SwiGLU 688,
vocabulary 8192, context 256 tokens, batch 8). `plain` is the stock `LlamaForCausalLM`
built by `tokattn.training.model.build_model`; the others are `ByteBranchForCausalLM.from_llama`
of it with a byte branch (d1 64, 1 layer by default) and cross-attention into the first
main layer (first_k 1) or every layer (all). `window` is both the byte branch's
sliding self-attention window and the cross-attention window (bytes back from the end
of each token); `full` means neither is windowed. The token→bytes table is random with
1–6 bytes per token (mean 3.5, like a BPE vocabulary), so a 256-token window is ~900
bytes.

A step is forward + cross-entropy + backward + AdamW + zero_grad on a batch already on
the device. The models are timed in one process, interleaved: each round runs --steps
steps of every model in a rotated order; the first round is warm-up. Per model the
median step time over the remaining rounds is reported (wall, and on CPU the calling
thread's CPU time, which stays steadier when other jobs share the cores), with its ratio
to `plain`, and the ratio of the fastest steps (least disturbed by other jobs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tokattn.training.byte_branch import ByteBranchForCausalLM  # noqa: E402
from tokattn.training.model import ArmSpec, build_model, parameter_counts  # noqa: E402


def random_token_bytes(vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a random (table [vocab, 6], lengths [vocab]) with 1–6 bytes per token."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 7, (vocab,), generator=g)
    lengths[:4] = 0  # special tokens
    table = torch.randint(0, 256, (vocab, 6), generator=g)
    table[torch.arange(6)[None] >= lengths[:, None]] = -1
    return table, lengths


def build_models(args, device) -> dict[str, torch.nn.Module]:
    """Return name -> model: the plain decoder and every (window, first_k) branch of it."""
    spec = ArmSpec(
        name="plain",
        tokenizer="synthetic",
        vocab_size=args.vocab,
        d_model=args.d_model,
        n_layers=args.n_layers,
        n_heads=args.n_heads,
        n_kv_heads=args.n_heads,
        d_ff=args.d_ff,
        context_tokens=args.context,
    )
    plain = build_model(spec, seed=0, attn_implementation="sdpa")
    table, lengths = random_token_bytes(args.vocab, seed=1)
    models = {"plain": plain}
    for window in args.windows:
        w = None if window == "full" else int(window)
        for first_k in args.first_k:
            torch.manual_seed(0)
            model = ByteBranchForCausalLM.from_llama(
                plain,
                byte_d_model=args.byte_d_model,
                byte_n_layers=args.byte_n_layers,
                byte_n_heads=args.byte_n_heads,
                byte_window=w,
                cross_layers="all" if first_k == "all" else {"first_k": int(first_k)},
                cross_n_heads=args.byte_n_heads,
                cross_window_bytes=w,
                gate_init=0.0,
            )
            model.set_token_bytes(table, lengths)
            models[f"window {window}, first_k {first_k}"] = model
    return {name: m.to(device).train() for name, m in models.items()}


def make_step(model, device):
    """Return a closure running one training step of `model` on a fixed random batch."""
    fused = device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step(ids):
        with autocast:
            logits = model(input_ids=ids).logits  # (B, T, V)
        loss = F.cross_entropy(logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-heads", type=int, default=4)
    parser.add_argument("--d-ff", type=int, default=688)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--byte-d-model", type=int, default=64)
    parser.add_argument("--byte-n-layers", type=int, default=1)
    parser.add_argument("--byte-n-heads", type=int, default=4)
    parser.add_argument("--windows", nargs="+", default=["8", "32", "full"])
    parser.add_argument("--first-k", nargs="+", default=["1", "all"])
    parser.add_argument("--steps", type=int, default=2, help="steps per model and round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, the first is warm-up")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
    models = build_models(args, device)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(4, args.vocab, (args.batch, args.context), generator=g).to(device)
    steps = {name: make_step(m, device) for name, m in models.items()}
    n_bytes = int(models[list(models)[1]].byte_inputs(ids)[0].shape[1]) if len(models) > 1 else 0

    wall: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            for _ in range(args.steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0, c0 = time.perf_counter(), time.thread_time()
                steps[name](ids)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if r > 0:
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.thread_time() - c0)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(
        f"machine: {where or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"device {device.type}"
    )
    print(
        f"main: d2 {args.d_model}, {args.n_layers} layers, {args.n_heads} heads, d_ff "
        f"{args.d_ff}, vocab {args.vocab}, context {args.context} tokens (~{n_bytes} bytes "
        f"per row), batch {args.batch}; byte branch: d1 {args.byte_d_model}, "
        f"{args.byte_n_layers} layer(s), {args.byte_n_heads} heads; "
        f"{args.rounds - 1} timed rounds x {args.steps} steps"
    )
    base_params = parameter_counts(models["plain"])["total"]
    use_cpu = device.type == "cpu"
    base = statistics.median((cpu if use_cpu else wall)["plain"])
    print()
    best = min((cpu if use_cpu else wall)["plain"])
    print(
        "| model | extra params | extra % | ms/step wall | ms/step CPU | time ratio (median) "
        "| time ratio (best) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        extra = parameter_counts(models[name])["total"] - base_params
        w_ms = statistics.median(wall[name]) * 1e3
        c_ms = statistics.median(cpu[name]) * 1e3 if use_cpu else float("nan")
        times = (cpu if use_cpu else wall)[name]
        ratio, ratio_best = statistics.median(times) / base, min(times) / best
        print(
            f"| {name} | {extra:,} | {100 * extra / base_params:.2f} % | {w_ms:.1f} | "
            f"{c_ms:.1f} | {ratio:.3f}x | {ratio_best:.3f}x |"
        )
    print(
        f"\nratios: {'CPU' if use_cpu else 'wall'} time per step over plain's (median step, "
        f"fastest step); plain has {base_params:,} parameters"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

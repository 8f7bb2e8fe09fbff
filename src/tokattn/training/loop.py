"""The training loop of one process: budgeted steps, resume, divergence checks, export, log.

Budget arithmetic (DESIGN.md, "fair comparison"): every arm is trained on the fewest
leading sequences of its seeded order whose target tokens stand for at least
`budget_bytes` UTF-8 bytes (packing.py). Steps = ceil(sequences / batch_size); sequences
past the budget in the last step are masked, so the bytes an arm sees exceed the budget by
less than one sequence, whatever its tokenizer.

Loss normalisation: each micro-step adds sum(NLL of valid targets) / (nominal tokens per
rank per step) to the gradients; DDP averages over ranks. The result equals the mean NLL
over the global batch, independent of how it is split over ranks and micro-steps, so a run
on 2 processes matches a run on 1 with twice the accumulation.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tokattn import __version__
from tokattn.training.checkpoint import (
    CHECKPOINT_NAME,
    capture_rng,
    load_checkpoint,
    load_checkpoint_step,
    restore_rng,
    run_fingerprint,
    save_checkpoint,
)
from tokattn.training.distributed import DistContext
from tokattn.training.export import export_model
from tokattn.training.model import (
    build_model,
    flops_per_token,
    gpu_peak_tflops,
    parameter_counts,
    resolve_arm,
)
from tokattn.training.optim import grad_accum_steps, lr_at, make_optimizer
from tokattn.training.packing import IGNORE_INDEX, EvalWindows, PackedSequences
from tokattn.training.tokenized import TokenizedSplit
from tokattn.training.train_config import TrainConfig, autocast_for, resolve_dtype
from tokattn.training.train_log import TrainLog
from tokattn.training.validation import evaluate


class TrainingDivergedError(RuntimeError):
    """The loss or the gradient norm stopped being finite; nothing was exported."""


def run_training(
    ctx: DistContext,
    arm: Mapping,
    arms: Sequence[Mapping],
    training: Mapping,
    seed: int,
    tokenizer_dir: str | Path,
    tokenized_dir: str | Path,
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    tensorboard_dir: str | Path | None,
    stop_after_steps: int | None,
) -> dict | None:
    """Train one arm for one seed in this process (one DDP rank); return the run summary.

    Returns None when `stop_after_steps` stopped the run early (a simulated crash).
    """
    cfg = TrainConfig.from_mapping(training)
    device = ctx.device
    if device.type == "cuda" and cfg.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dtype = resolve_dtype(cfg.dtype, device)
    train_split = TokenizedSplit.open(tokenized_dir, "train")
    val_split = TokenizedSplit.open(tokenized_dir, "val")
    meta = train_split.meta
    spec = resolve_arm(
        arm,
        {a["name"]: a for a in arms},
        meta["vocab_size"],
        train_split.bytes_per_token,
        meta["special_token_ids"],
    )
    T, MB = spec.context_tokens, cfg.micro_batch_size
    accum = grad_accum_steps(cfg.batch_size, MB, ctx.world)
    try:
        data = PackedSequences(train_split, T, seed)
        val_windows = EvalWindows(val_split, T, cfg.eval_bytes)
    except ValueError as exc:
        key = "context_tokens" if arm.get("context_tokens") else "context_bytes"
        raise ValueError(
            f"model arm {spec.name!r}: config key '{key}' ({arm[key]}, {T} tokens) does not "
            f"fit the data: {exc}"
        ) from None
    n_seq = data.sequences_for_budget(cfg.budget_bytes)
    total_steps = -(-n_seq // cfg.batch_size)
    warmup_steps = round(cfg.warmup_fraction * total_steps)
    run_config = {
        "arm": spec.to_dict(),
        "arm_config": dict(arm),
        "training": asdict(cfg),
        "seed": int(seed),
        "data": {
            "tokenizer_sha256": meta["tokenizer_sha256"],
            "train_tokens": meta["n_tokens"],
            "train_bytes": meta["n_bytes"],
            "val_tokens": val_split.meta["n_tokens"],
        },
        "total_steps": total_steps,
        "sequences": n_seq,
    }
    fingerprint = run_fingerprint(run_config)

    model = build_model(spec, seed, cfg.attn_implementation, tokenizer_dir).to(device)
    counts = parameter_counts(model)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_at(s, total_steps, warmup_steps, cfg.lr, cfg.min_lr) / cfg.lr
    )
    step, tokens_seen, bytes_seen, elapsed_s = 0, 0, 0, 0.0
    rows: list[dict] = []
    best_val = math.inf
    resumed_from = None
    interval = {"loss_sum": 0.0, "valid": 0, "tokens": 0}
    state = load_checkpoint(checkpoint_dir, map_location=device)
    if state is not None and state["fingerprint"] == fingerprint:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        step, resumed_from = state["step"], state["step"]
        tokens_seen, bytes_seen = state["tokens_seen"], state["bytes_seen"]
        rows, best_val = state["log_rows"], state["best_val_loss"]
        elapsed_s, interval = state["elapsed_s"], state["interval"]
    elif state is not None and ctx.master:
        warnings.warn(
            f"checkpoint in {checkpoint_dir} was made under another config; starting over",
            stacklevel=1,
        )
    del state

    raw_model = model
    compiled = torch.compile(model) if cfg.compile else model
    model = compiled
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # The only buffers (RoPE frequencies, a byte branch's token -> bytes table) are
        # constants: no need to sync them per step.
        sync_kw = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
            else {"broadcast_buffers": False}
        )
        model = DDP(
            compiled, device_ids=[device.index] if device.type == "cuda" else None, **sync_kw
        )
    fpt = flops_per_token(
        spec, counts["non_embedding"], counts["byte_branch"], train_split.bytes_per_token
    )
    peak = gpu_peak_tflops(device, cfg.peak_tflops)
    log = TrainLog(
        rows,
        tensorboard_dir if cfg.tensorboard else None,
        total_steps,
        step,
        enabled=ctx.master,
        desc=f"train {spec.name} seed{seed}",
    )

    def checkpoint(at_step: int) -> None:
        # The update of this very step can make the weights non-finite while its loss and
        # gradient norm were finite: such a state must not become the "last good" one.
        # Weights are replicated under DDP, so every rank decides alike.
        bad = [n for n, p in raw_model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            diverged(f"non-finite weights after step {at_step} ({', '.join(bad[:3])})")
        open_loss = ctx.all_reduce_sum(loss_sum.clone()).item()  # collective: every rank
        if ctx.master:
            save_checkpoint(
                {
                    "fingerprint": fingerprint,
                    "step": at_step,
                    "sequences_done": min(at_step * cfg.batch_size, n_seq),
                    "tokens_seen": tokens_seen,
                    "bytes_seen": bytes_seen,
                    "flops": fpt * tokens_seen,
                    "model": raw_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": capture_rng(),
                    "log_rows": log.rows,
                    "best_val_loss": best_val,
                    "elapsed_s": elapsed_s,
                    # The open log interval, so rows after a resume equal uninterrupted ones.
                    "interval": {
                        "loss_sum": open_loss,
                        "valid": valid_in_interval,
                        "tokens": interval_tokens,
                    },
                    "config": run_config,
                },
                checkpoint_dir,
            )
        ctx.barrier()

    # Per-rank nominal tokens per step; DDP's mean over ranks completes the global mean.
    denom = MB * T * accum
    # The open interval's loss is a global sum: rank 0 carries it, the others start at 0.
    loss_sum = torch.tensor(interval["loss_sum"] if ctx.master else 0.0, device=device)
    valid_in_interval, interval_tokens = interval["valid"], interval["tokens"]
    # First step (1-based) whose loss or gradient norm was not finite, with those values;
    # kept on the device so that the check costs no host sync per step.
    first_bad = torch.zeros((), dtype=torch.float64, device=device)
    bad_values = torch.zeros(2, dtype=torch.float64, device=device)

    def diverged(what: str) -> None:
        log.close()
        last_good = load_checkpoint_step(checkpoint_dir)
        kept = (
            f"the last good checkpoint ({Path(checkpoint_dir) / CHECKPOINT_NAME}, step "
            f"{last_good}) is kept"
            if last_good is not None
            else "no checkpoint was written yet"
        )
        raise TrainingDivergedError(
            f"train {spec.name} seed {seed}: {what} (training.lr {cfg.lr}); training stopped "
            f"and no model was exported; {kept}. Lower training.lr, raise warmup_fraction or "
            "set grad_clip (each starts the run over)."
        )

    def stop_if_diverged() -> None:
        # Collective (every rank): a rank-local NaN must stop all ranks at the same step.
        flagged = (first_bad > 0).double()
        totals = ctx.all_reduce_sum(torch.cat([flagged.view(1), (first_bad * flagged).view(1)]))
        n_flagged, step_sum = totals.tolist()
        if n_flagged:
            loss_value, norm_value = bad_values.tolist()
            diverged(
                f"non-finite loss or gradient norm at step {round(step_sum / n_flagged)} of "
                f"{total_steps} (loss {loss_value}, gradient norm {norm_value})"
            )

    interval_start = time.perf_counter()
    model.train()
    while step < total_steps:
        base = step * cfg.batch_size
        step_nll = torch.zeros((), dtype=torch.float64, device=device)
        for micro in range(accum):
            first = base + (micro * ctx.world + ctx.rank) * MB
            x, y = data.batch(np.arange(first, first + MB), n_seq, device)  # (B, T)
            # Gradients are all-reduced only on the last micro-step.
            sync = model.no_sync() if ctx.enabled and micro < accum - 1 else nullcontext()
            with sync:
                with autocast_for(device, dtype):
                    logits = model(input_ids=x, use_cache=False).logits  # (B, T, V)
                    nll = F.cross_entropy(
                        logits.view(-1, logits.size(-1)),
                        y.view(-1),
                        ignore_index=IGNORE_INDEX,
                        reduction="sum",
                    )
                (nll / denom).backward()
            loss_sum += nll.detach()
            step_nll += nll.detach().double()
        # inf as max_norm measures the norm without clipping.
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm).double()
        finite = torch.isfinite(step_nll) & torch.isfinite(grad_norm)
        new_bad = ~finite & (first_bad == 0)
        first_bad = torch.where(new_bad, torch.full_like(first_bad, step + 1), first_bad)
        bad_values = torch.where(new_bad, torch.stack([step_nll, grad_norm]), bad_values)
        lr_used = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        valid = np.arange(base, min(base + cfg.batch_size, n_seq))
        tokens_seen += len(valid) * T
        bytes_seen += data.bytes_of(valid)
        valid_in_interval += len(valid) * T
        interval_tokens += cfg.batch_size * T
        step += 1
        log.advance()
        last = step == total_steps
        row = {}
        logs = step % cfg.log_interval == 0 or step % cfg.eval_interval == 0
        if logs or step % cfg.checkpoint_interval == 0 or last:
            # Before anything is logged, evaluated or saved: a diverged model must never
            # reach a checkpoint or the exported folder.
            stop_if_diverged()
        if step % cfg.log_interval == 0 or last:
            total_loss = ctx.all_reduce_sum(loss_sum.clone()).item()
            seconds = time.perf_counter() - interval_start
            elapsed_s += seconds
            tps = interval_tokens / seconds
            row.update(
                loss=total_loss / max(1, valid_in_interval),
                lr=lr_used,
                tokens_per_s=tps,
                mfu=fpt * tps / (peak * 1e12 * ctx.world) if peak else None,
            )
            loss_sum.zero_()
            valid_in_interval = interval_tokens = 0
        if step % cfg.eval_interval == 0 or last:
            val_loss, val_bpb = evaluate(compiled, val_windows, MB, ctx, dtype)
            best_val = min(best_val, val_loss)
            row.update(val_loss=val_loss, val_bpb=val_bpb)
        if row:
            log.add({"step": step, "tokens": tokens_seen, "bytes": bytes_seen, **row})
            interval_start = time.perf_counter()  # evaluation is not training throughput
        if step % cfg.checkpoint_interval == 0 or last:
            checkpoint(step)
        if stop_after_steps is not None and step >= stop_after_steps and not last:
            log.close()
            return None  # a simulated crash: whatever the last checkpoint holds survives

    log.close()
    summary = {
        "model": spec.name,
        "tokenizer": spec.tokenizer,
        "seed": int(seed),
        "arm": spec.to_dict(),
        "training": asdict(cfg),
        "params": counts,
        "byte_branch_params": counts["byte_branch"],
        "flops_per_token": fpt,
        "flops": fpt * tokens_seen,
        "budget_bytes": cfg.budget_bytes,
        "bytes_seen": bytes_seen,
        "tokens_seen": tokens_seen,
        "sequences": n_seq,
        "steps": total_steps,
        "warmup_steps": warmup_steps,
        "grad_accum_steps": accum,
        "context_tokens": T,
        "train_bytes_per_token": train_split.bytes_per_token,
        "final_val_loss": log.rows[-1]["val_loss"] if log.rows else None,
        "final_val_bpb": log.rows[-1]["val_bpb"] if log.rows else None,
        "best_val_loss": best_val,
        "train_seconds": elapsed_s,
        "world_size": ctx.world,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "resumed_from_step": resumed_from,
        "fingerprint": fingerprint,
        "tokattn_version": __version__,
    }
    if ctx.master:
        export_model(raw_model, spec, tokenizer_dir, out_dir, log, summary)
    ctx.barrier()
    return summary

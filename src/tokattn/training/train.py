"""Train one model arm for one seed: the entry point (`train_model`) and torchrun's process entry.

One trainer per run directory (a lock); with `world_size` > 1 this process launches torchrun,
whose ranks come back through `main` (`python -m tokattn.training.train --job JOB.json`)
and run the loop of loop.py. Budget arithmetic and loss normalisation are described there.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from tokattn.training.checkpoint import (
    RunLock,
)
from tokattn.training.distributed import DistContext, launch_torchrun
from tokattn.training.export import SUMMARY_NAME
from tokattn.training.loop import run_training


def train_model(
    arm: Mapping,
    arms: Sequence[Mapping],
    training: Mapping,
    seed: int,
    tokenizer_dir: str | Path,
    tokenized_dir: str | Path,
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    tensorboard_dir: str | Path | None = None,
    world_size: int = 1,
    threads: int | None = None,
    stop_after_steps: int | None = None,
) -> dict | None:
    """Train one arm for one seed, resuming from `checkpoint_dir`; return the run summary.

    `world_size` > 1 starts that many data-parallel processes with torchrun (one per GPU;
    gloo on CPU when `training.device` is 'cpu'). Returns None when `stop_after_steps`
    stopped the run early (a simulated crash, for tests).
    """
    args = dict(locals())  # the parameters above, passed on unchanged
    if "WORLD_SIZE" in os.environ:
        # A torchrun rank: the process that launched torchrun holds the run's lock.
        return _train_model(**args)
    # One trainer per run directory: a second one (e.g. an orphan of a killed Snakemake
    # plus a rerun after --unlock) would overwrite the first one's checkpoints.
    with RunLock(checkpoint_dir):
        return _train_model(**args)


def _train_model(
    arm: Mapping,
    arms: Sequence[Mapping],
    training: Mapping,
    seed: int,
    tokenizer_dir: str | Path,
    tokenized_dir: str | Path,
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    tensorboard_dir: str | Path | None,
    world_size: int,
    threads: int | None,
    stop_after_steps: int | None,
) -> dict | None:
    device_pref = training.get("device", "auto")
    if world_size > 1 and device_pref == "auto" and not torch.cuda.is_available():
        warnings.warn(
            f"{world_size} processes asked for but no GPU is visible; using 1", stacklevel=2
        )
        world_size = 1
    if world_size > 1 and "WORLD_SIZE" not in os.environ:
        job = {
            "arm": dict(arm),
            "arms": [dict(a) for a in arms],
            "training": dict(training),
            "seed": int(seed),
            "tokenizer_dir": str(tokenizer_dir),
            "tokenized_dir": str(tokenized_dir),
            "out_dir": str(out_dir),
            "checkpoint_dir": str(checkpoint_dir),
            "tensorboard_dir": None if tensorboard_dir is None else str(tensorboard_dir),
            "threads": max(1, (threads or os.cpu_count() or 1) // world_size),
            "stop_after_steps": stop_after_steps,
        }
        launch_torchrun(job, world_size)
        summary_path = Path(out_dir) / SUMMARY_NAME
        done = stop_after_steps is None or summary_path.exists()
        return json.loads(summary_path.read_text(encoding="utf-8")) if done else None
    if threads:
        torch.set_num_threads(threads)
    ctx = DistContext.from_env(device_pref)
    try:
        return run_training(
            ctx,
            arm,
            arms,
            training,
            seed,
            tokenizer_dir,
            tokenized_dir,
            out_dir,
            checkpoint_dir,
            tensorboard_dir,
            stop_after_steps,
        )
    finally:
        ctx.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of each torchrun process: `python -m tokattn.training.train --job JOB.json`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--job", required=True, help="JSON file with train_model arguments")
    args = parser.parse_args(argv)
    with open(args.job, encoding="utf-8") as fh:
        job = json.load(fh)
    train_model(**job)


if __name__ == "__main__":
    main()

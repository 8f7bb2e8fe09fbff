"""Training checkpoints: one atomic file holding everything a resumed run needs.

`last.pt` in a run's checkpoint directory is a `torch.save` dict:

    format_version   int
    fingerprint      sha256 of everything that decides the weights (see `run_fingerprint`)
    step             optimizer steps done
    sequences_done   data position: sequence numbers < this were consumed (packing.py)
    tokens_seen, bytes_seen, flops   accounting so far (valid targets only)
    model            state dict, '_orig_mod.' / 'module.' prefixes stripped
    optimizer, scheduler             their state dicts
    rng              python, numpy, torch CPU and CUDA generator states
    log_rows         train_log.csv rows so far
    best_val_loss    lowest validation loss so far
    config           the resolved run config (arm spec, training options, seed, data)

It is written to a temporary name, fsynced and renamed, so a crash mid-write leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

FORMAT_VERSION = 1
CHECKPOINT_NAME = "last.pt"

# Training options that change logging or speed but never the weights; a checkpoint made
# under other values of these may be resumed.
NON_WEIGHT_OPTIONS = frozenset(
    {
        "eval_interval",
        "eval_bytes",
        "checkpoint_interval",
        "log_interval",
        "tensorboard",
        "compile",
        "micro_batch_size",
        "peak_tflops",
        "device",
    }
)


def run_fingerprint(config: Mapping) -> str:
    """Return a sha256 over the parts of a resolved run config that decide the weights."""
    relevant = dict(config)
    relevant["training"] = {
        k: v for k, v in config["training"].items() if k not in NON_WEIGHT_OPTIONS
    }
    blob = json.dumps(relevant, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a state dict without torch.compile ('_orig_mod.') or DDP ('module.') prefixes."""
    out = {}
    for key, value in state.items():
        for prefix in ("_orig_mod.", "module."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        out[key.replace("._orig_mod.", ".")] = value
    return out


def capture_rng() -> dict:
    """Return the state of every random generator a run may touch."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping) -> None:
    """Restore generator states saved by `capture_rng`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(state: dict, directory: str | Path) -> Path:
    """Write `state` to directory/last.pt atomically and return the path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_NAME
    tmp = directory / f".{CHECKPOINT_NAME}.tmp"
    with open(tmp, "wb") as fh:
        torch.save({"format_version": FORMAT_VERSION, **state}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(directory: str | Path, map_location: str | torch.device = "cpu") -> dict | None:
    """Return the checkpoint in `directory`, or None when there is none."""
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    # weights_only=False: the file holds numpy RNG state and plain Python objects written
    # by this code, not an untrusted download.
    state = torch.load(path, map_location=map_location, weights_only=False)
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format {state.get('format_version')}, expected "
            f"{FORMAT_VERSION}; delete it to start over"
        )
    state["model"] = strip_wrapper_prefixes(state["model"])
    return state

"""Process groups for data-parallel training, and the torchrun launcher.

A training job asks for `gpu` devices; with more than one, `launch_torchrun` starts one
process per device through `torch.distributed.run` and each process joins the group in
`DistContext.from_env`. The same path runs on CPU with the gloo backend (tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    """Rank, world size and device of this process; rank 0 is the master (all I/O)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, device_pref: str = "auto") -> DistContext:
        """Return the context of this process, joining the process group under torchrun."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
        if use_cuda:
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return cls(rank=rank, local_rank=local_rank, world=world, device=device)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Return the elementwise sum of `tensor` over ranks (in place)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def _has_fileno(stream) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def launch_torchrun(job: dict, nproc: int) -> None:
    """Run `python -m tokattn.training.train --job JOB` under torchrun with `nproc` processes.

    The job (the keyword arguments of `train_model`) travels as a JSON file; the child
    processes import tokattn from the same source tree as this one and write to this
    process's stderr (a Snakemake log, when the script redirected it there).
    """
    src_dir = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src_dir, env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(job, fh)
        job_path = fh.name
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "tokattn.training.train",
        "--job",
        job_path,
    ]
    try:
        sys.stderr.flush()
        out = sys.stderr if _has_fileno(sys.stderr) else None
        subprocess.run(cmd, env=env, check=True, stdout=out, stderr=out)
    finally:
        os.unlink(job_path)

"""Join the torchrun process group, all-reduce the ranks, write what the job saw (JSON)."""

import json
import os
import sys

import torch
import torch.distributed as dist


def main(out_path: str) -> None:
    dist.init_process_group(backend="gloo")
    rank = torch.tensor([dist.get_rank()])
    dist.all_reduce(rank)  # sum of ranks proves every process joined
    if dist.get_rank() == 0:
        keys = ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_GPUS_ON_NODE", "SLURM_NNODES")
        keys += ("SLURM_CPUS_PER_TASK", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_GPUS")
        seen = {k: os.environ.get(k) for k in keys}
        seen.update(world_size=dist.get_world_size(), rank_sum=int(rank.item()))
        tmp = out_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(seen, fh, indent=1)
        os.replace(tmp, out_path)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])

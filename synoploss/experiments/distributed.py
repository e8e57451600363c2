"""Multi-process training with torch.distributed (torchrun), kept out of the way of
plain single-process runs."""
from __future__ import annotations

import gc
import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .cli import pick_device


@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device_name: str | None = None) -> tuple[Context, torch.device]:
    """Join the process group when started by torchrun (WORLD_SIZE > 1): NCCL on GPUs,
    gloo on CPU. A plain `python script.py` stays single-process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context(), pick_device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    return Context(dist.get_rank(), dist.get_world_size(), local_rank), device


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        # Free unreachable DistributedDataParallel wrappers (kept alive by reference
        # cycles through the autograd graph) while the group still exists, and let every
        # rank finish its collectives: otherwise a rank now and then aborted at exit with
        # "terminate called without an active exception".
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    """Wait until every process is here (a no-op for one process)."""
    if context.distributed:
        dist.barrier()


def global_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean over processes of a per-process mean, keeping the gradient: with equal local
    batches it is the mean over the whole global batch, so a nonlinear SynOp penalty on
    it equals the single-process penalty on the whole batch."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    # not in every torch build (dist.is_available()), and needed under torchrun only
    from torch.distributed.nn.functional import all_reduce
    with warnings.catch_warnings():
        # deprecated in favour of the private torch.distributed._functional_collectives;
        # this public one keeps the gradient (tests/test_distributed.py checks it)
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(value, op=dist.ReduceOp.SUM) / dist.get_world_size()

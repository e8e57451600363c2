"""Spread independent jobs (e.g. one model each) over worker processes."""
from __future__ import annotations

import multiprocessing
import os
from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm


def map_jobs(function: Callable, jobs: Sequence, workers: int = 1,
             description: str = "models", progress: bool = True,
             chunksize: int = 1, device=None) -> Iterator:
    """`function(job)` for every job, in order, with a tqdm bar (hidden without `progress`).

    With `workers` > 1, forked processes share the cores (torch threads split evenly), so
    data prepared in module globals before the call is shared without copying. On a CUDA
    `device` the jobs run one after the other in this process: CUDA cannot be used in
    forked children, and one GPU runs one model's batches faster than several at once.
    """
    if workers > 1 and device is not None and torch.device(device).type == "cuda":
        print(f"{description}: --workers {workers} ignored on {device} (jobs run in turn)")
        workers = 1
    if workers <= 1:
        yield from tqdm(map(function, jobs), total=len(jobs), desc=description,
                        disable=not progress)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with multiprocessing.get_context("fork").Pool(workers, torch.set_num_threads,
                                                  (threads,)) as pool:
        yield from tqdm(pool.imap(function, jobs, chunksize), total=len(jobs),
                        desc=description, disable=not progress)

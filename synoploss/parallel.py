"""Spread independent jobs (e.g. one model each) over worker processes."""
from __future__ import annotations

import multiprocessing
import os
from typing import Any, Callable, Iterator, Sequence

import torch

from .progress import progress_bar

_WORKER_SHARED: dict = {}  # the `shared` argument, inside a worker process only


def _start_worker(threads: int, shared) -> None:
    torch.set_num_threads(threads)
    _WORKER_SHARED["shared"] = shared


def _call_in_worker(function, job):
    return function(_WORKER_SHARED["shared"], job)


def map_jobs(function: Callable, jobs: Sequence, workers: int = 1,
             description: str = "models", progress: bool = True,
             chunksize: int = 1, device=None, shared: Any = None) -> Iterator:
    """`function(shared, job)` for every job, in order, with a tqdm bar (hidden without
    `progress`).

    `shared` (the data every job reads) is given to each worker once, when it starts: the
    workers are forked, so it is inherited, never pickled per job. With `workers` > 1 the
    processes share the cores (torch threads split evenly). On a CUDA `device` the jobs
    run one after the other in this process: CUDA cannot be used in forked children, and
    one GPU runs one model's batches faster than several at once.
    """
    if workers > 1 and device is not None and torch.device(device).type == "cuda":
        print(f"{description}: --workers {workers} ignored on {device} (jobs run in turn)")
        workers = 1
    if workers <= 1:
        yield from progress_bar((function(shared, job) for job in jobs), total=len(jobs),
                        desc=description, disable=not progress)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, _start_worker, (threads, shared)) as pool:
        calls = pool.imap(_CallWith(function), jobs, chunksize)
        yield from progress_bar(calls, total=len(jobs), desc=description, disable=not progress)


class _CallWith:
    """A picklable `job -> function(shared, job)` for the pool (the function by reference)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, job):
        return _call_in_worker(self.function, job)

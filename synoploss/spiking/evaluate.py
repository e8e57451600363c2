"""Running a converted network on either simulator: `Simulation`, one batch at a time
(the spiking tests, the live classifier, the benchmarks), and `evaluate`, a whole test
set. The only module that knows both engines."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import sinabs_run
from .fast import run_batch as fast_run_batch
from .fast.plan import compile_network, device_of
from .result import DEFAULT_SIMULATOR, SIMULATORS, BatchResult, SpikingResult


class Simulation:
    """A converted network on one simulator, called on one batch at a time.

    Args:
        net: a network from `to_spiking`.
        simulator: "sinabs" (the paper's) or "fast" (the exact event-driven simulator:
            the same spikes; a chain of layers only, see `synoploss.spiking.fast`).
        threads: samples the fast simulator runs at once (default: torch's threads).
        reset: every batch starts from rest; False (sinabs only) carries the state over.

    Calling it on a batch (B, T, ...) returns a `BatchResult`: the output per step and the
    SynOps per sample and weight layer, as sinabs' hooks count them. Use it as a context
    manager, or call `close()`, to remove the SynOp hooks from the network.
    """

    def __init__(self, net, simulator: str = DEFAULT_SIMULATOR, threads: int | None = None,
                 reset: bool = True):
        if simulator not in SIMULATORS:
            raise ValueError(f"--simulator {simulator}: must be one of {', '.join(SIMULATORS)}")
        if not reset and simulator == "fast":
            raise ValueError("the fast simulator runs every batch from rest; use sinabs to "
                             "carry the state over")
        self.net, self.simulator, self.threads, self.reset = net, simulator, threads, reset
        self.plan = None
        self.counter = sinabs_run.SampleSynops(net) if simulator == "sinabs" else None

    @torch.no_grad()
    def __call__(self, data: torch.Tensor) -> BatchResult:
        if self.simulator == "sinabs":
            data = data.to(device_of(self.net), torch.float32)
            return sinabs_run.run_batch(self.net, data, self.counter, self.reset)
        if self.plan is None and device_of(self.net.spiking_model).type != "cuda":
            self.plan = compile_network(self.net, tuple(data.shape[2:]))
        return fast_run_batch(self.net, data, self.plan, self.threads)

    def close(self) -> None:
        if self.counter is not None:
            self.counter.remove()
            self.counter = None

    def __enter__(self) -> "Simulation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def evaluate(net, batches: Iterable, simulator: str = DEFAULT_SIMULATOR, device=None,
             progress: bool | str = False, keep_output: bool = False,
             threads: int | None = None) -> SpikingResult:
    """A test set through a converted network, every sample from rest.

    Args:
        net: a network from `to_spiking`; moved to `device` when one is given.
        batches: (data (B, T, ...), labels) pairs; zero-padding in time adds no SynOps.
        simulator: "sinabs" (the paper's) or "fast" (the same spikes, faster).
        progress: a tqdm bar (a string: its label).
        keep_output: also keep each sample's output summed over time.
        threads: samples the fast simulator runs at once.

    Returns:
        A `SpikingResult`: prediction (argmax of the output summed over time), label and
        SynOps per weight layer of every sample, as sinabs' hooks count them (tests check
        that both simulators agree with sinabs' own numbers).

    Raises:
        ValueError: an unknown simulator, or no batches.
    """
    if device is not None:
        net = net.to(device)
    predictions, labels, outputs, sample_synops = [], [], [], []
    label = progress if isinstance(progress, str) else \
        ("spiking (fast)" if simulator == "fast" else "spiking")
    with Simulation(net, simulator, threads) as simulation:
        for data, target in tqdm(batches, desc=label, leave=False, disable=not progress):
            result = simulation(data)
            summed = result.output.sum(1)
            predictions.append(summed.argmax(1).cpu().numpy())
            labels.append(np.asarray(target).reshape(-1))
            if keep_output:
                outputs.append(summed.cpu().numpy())
            sample_synops.append(result.layer_synops)
    if not predictions:
        raise ValueError("evaluate: no batches to evaluate")
    return SpikingResult(
        predictions=np.concatenate(predictions), labels=np.concatenate(labels),
        sample_synops=np.concatenate(sample_synops),
        output_spikes=np.concatenate(outputs) if keep_output else None,
        layer_names=[name for name, _, _ in getattr(net, "synop_layers", [])] or None)

"""Running a converted network on either simulator: `Simulation`, one batch at a time
(the spiking tests, the live classifier, the benchmarks), and `evaluate`, a whole test
set. The only module that knows both engines."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np
import sinabs.layers
import torch

from ..data.events import EventBatch
from ..progress import progress_bar
from . import sinabs_run
from .convert import activation_sizes, time_window, window_step_bytes
from .fast import run_batch as fast_run_batch
from .fast import sample_shape
from .fast.plan import compile_network, device_of
from .neurobench_metrics import NeuroBenchCounter, NeuroBenchTally
from .result import DEFAULT_SIMULATOR, SIMULATORS, BatchResult, SpikingResult


class Simulation:
    """A converted network on one simulator, called on one batch at a time.

    Args:
        net: a network from `to_spiking`.
        simulator: "sinabs" (the paper's) or "fast" (the exact event-driven simulator:
            the same spikes; a chain of layers only, see `synoploss.spiking.fast`).
        threads: samples the fast simulator runs at once (default: torch's threads).
        reset: every batch starts from rest; False (sinabs only) carries the state over.
        neurobench: also NeuroBench's counts of every batch, in the same pass
            (`BatchResult.neurobench`; `neurobench_metrics.NeuroBenchTally` makes the
            metrics): sinabs by hooks, the fast simulator in its own run.

    Calling it on a batch (B, T, ...) or an `EventBatch` (sparse: memory follows the
    events; the CPU engine reads it as it is, sinabs and the CUDA engine in dense windows
    of at most `window_bytes`) returns a `BatchResult`: the output per step and the SynOps
    per sample and weight layer, as sinabs' hooks count them. Use it as a context manager,
    or call `close()`, to remove the SynOp hooks from the network.
    """
    window_bytes = 2 ** 31  # a dense window of sinabs: 2 GiB

    def __init__(self, net, simulator: str = DEFAULT_SIMULATOR, threads: int | None = None,
                 reset: bool = True, neurobench: bool = False):
        if simulator not in SIMULATORS:
            raise ValueError(f"--simulator {simulator}: must be one of {', '.join(SIMULATORS)}")
        if not reset and simulator == "fast":
            raise ValueError("the fast simulator runs every batch from rest; use sinabs to "
                             "carry the state over")
        self.net, self.simulator, self.threads, self.reset = net, simulator, threads, reset
        self.neurobench = neurobench
        self.plan = None
        self.counter = sinabs_run.SampleSynops(net) if simulator == "sinabs" else None
        self.neurobench_counter = NeuroBenchCounter(net) \
            if neurobench and simulator == "sinabs" else None

    @torch.no_grad()
    def __call__(self, data: torch.Tensor | EventBatch) -> BatchResult:
        expected = getattr(self.net, "input_shape", None)
        if expected is not None and tuple(sample_shape(data)) != tuple(expected):
            # another shape of the same size would run and give numbers of nothing
            raise ValueError(f"a batch of samples of shape {tuple(sample_shape(data))}, but the "
                             f"network was converted for {tuple(expected)} (to_spiking's "
                             "input_shape): convert it for this data, or feed it its own")
        if self.simulator == "fast":
            if self.plan is None and device_of(self.net.spiking_model).type != "cuda":
                self.plan = compile_network(self.net, sample_shape(data))
            return fast_run_batch(self.net, data, self.plan, self.threads, self.neurobench)
        if isinstance(data, EventBatch):
            window = time_window(self.net, data.shape, data.batch, self.window_bytes)
            if self.neurobench_counter is not None:
                self.neurobench_counter.discard()  # time_window's probe ran the network
            result = sinabs_run.run_windows(self.net, data, self.counter, window, self.reset)
        else:
            data = data.to(device_of(self.net), torch.float32)
            result = sinabs_run.run_batch(self.net, data, self.counter, self.reset)
        if self.neurobench_counter is not None:
            result.neurobench = self.neurobench_counter.batch_counts(len(result.output))
        return result

    def close(self) -> None:
        for counter in (self.counter, self.neurobench_counter):
            if counter is not None:
                counter.remove()
        self.counter = self.neurobench_counter = None

    def __enter__(self) -> "Simulation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NotEnoughMemory(ValueError):
    """A spiking test whose largest batch would not fit in the memory available."""


EVENT_BYTES = 20  # an EventBatch's step, y, x, channel (int32) and value (float32)


def peak_bytes(net, sizes, sample_shape, simulator: str, device="cpu") -> tuple:
    """(bytes, what) of the largest batch of a spiking test, estimated: its events, the
    output at every step (kept three times: the engine's, the network's, the batch's),
    and the dense windows where they are made (sinabs and CUDA: every layer's output over a
    window of at most `Simulation.window_bytes`, `convert.window_step_bytes`; the CPU
    engine: none, unless layers come before the first spiking layer, whose dense input and
    output it then holds for every step). `sizes`: (samples, steps, events) of every
    batch."""
    neurons = activation_sizes(net, sample_shape)
    model = net.spiking_model if hasattr(net, "spiking_model") else net
    prefix = not isinstance(next(iter(model.children()), None), sinabs.layers.SqueezeMixin)
    windows = simulator == "sinabs" or torch.device(device).type == "cuda"
    worst = (0, "")
    for samples, steps, events in sizes:
        if windows:
            dense = min(window_step_bytes(net, sample_shape, samples) * steps,
                        Simulation.window_bytes)
        else:
            dense = 4 * samples * steps * (neurons[0] + neurons[1]) if prefix else 0
        parts = dict(events=EVENT_BYTES * events, output=3 * 4 * samples * steps * neurons[-1],
                     dense=dense)
        total = sum(parts.values())
        if total > worst[0]:
            worst = (total, f"{samples} samples of {steps} steps: " + ", ".join(
                f"{name} {value / 2**30:.3g} GiB" for name, value in parts.items() if value))
    return worst


def available_memory() -> float:
    """Bytes the system can still give (Linux's MemAvailable); infinite when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


def check_memory(net, batches, simulator: str, device="cpu") -> None:
    """Refuse (NotEnoughMemory) a test whose largest batch would not fit in the memory
    available, before its first batch runs; `batches` that tell their `sizes` (and
    `shape`: one sample at one step) are checked, others are not."""
    if not hasattr(batches, "sizes"):
        return
    needed, what = peak_bytes(net, batches.sizes(), batches.shape, simulator, device)
    available = available_memory()
    if needed > available:
        raise NotEnoughMemory(
            f"the spiking test's largest batch needs about {needed / 2**30:.3g} GiB ({what}); "
            f"{available / 2**30:.3g} GiB are available: use coarser time bins (--dt_us), a "
            "smaller --batch_size, or a machine with more memory")


def evaluate(net, batches: Iterable, simulator: str = DEFAULT_SIMULATOR, device=None,
             progress: bool | str = False, keep_output: bool = False,
             threads: int | None = None, neurobench: bool = False) -> SpikingResult:
    """A test set through a converted network, every sample from rest.

    Args:
        net: a network from `to_spiking`; moved to `device` when one is given.
        batches: (data (B, T, ...), labels) pairs; zero-padding in time adds no SynOps.
        simulator: "sinabs" (the paper's) or "fast" (the same spikes, faster).
        progress: a tqdm bar (a string: its label).
        keep_output: also keep each sample's output summed over time.
        threads: samples the fast simulator runs at once.
        neurobench: also NeuroBench's metrics, counted in the same pass.

    Returns:
        A `SpikingResult`: prediction (argmax of the output summed over time), label and
        SynOps per weight layer of every sample, as sinabs' hooks count them (tests check
        that both simulators agree with sinabs' own numbers); with `neurobench`, its
        `neurobench` is a `neurobench_metrics.NeuroBenchMetrics` (the same numbers from
        either simulator).

    Raises:
        ValueError: an unknown simulator, or no batches.
        NotEnoughMemory: batches that tell their sizes (`EventBatches`) whose largest would
            not fit in the memory available; before the first batch runs.
    """
    if device is not None:
        net = net.to(device)
    check_memory(net, batches, simulator, device or device_of(net))
    predictions, labels, outputs, sample_synops = [], [], [], []
    tally = NeuroBenchTally(net) if neurobench else None
    label = progress if isinstance(progress, str) else \
        ("spiking (fast)" if simulator == "fast" else "spiking")
    with Simulation(net, simulator, threads, neurobench=neurobench) as simulation:
        for data, target in progress_bar(batches, desc=label, leave=False, disable=not progress):
            result = simulation(data)
            summed = result.output.sum(1)
            predictions.append(summed.argmax(1).cpu().numpy())
            labels.append(np.asarray(target).reshape(-1))
            if keep_output:
                outputs.append(summed.cpu().numpy())
            sample_synops.append(result.layer_synops)
            if tally is not None:
                tally.add(result.neurobench)
    if not predictions:
        raise ValueError("evaluate: no batches to evaluate")
    return SpikingResult(
        predictions=np.concatenate(predictions), labels=np.concatenate(labels),
        sample_synops=np.concatenate(sample_synops),
        output_spikes=np.concatenate(outputs) if keep_output else None,
        layer_names=[name for name, _, _ in getattr(net, "synop_layers", [])] or None,
        neurobench=tally.result() if tally is not None else None)

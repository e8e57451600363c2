"""The fast simulator's CPU engine: a batch through a `SimulationPlan`, one sample per
thread (the compiled kernel, `cpu_kernel`, releases the GIL). The layers before the first
spiking layer and after the last run in torch, counted as sinabs' hooks count them (and,
when asked, as NeuroBench counts them: `BatchResult.neurobench`)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from ...data.events import EventBatch
from ..result import BatchResult, NeuroBenchCounts
from .plan import SimulationPlan, run_counted


def events_of(data: torch.Tensor, shape: tuple) -> EventBatch:
    """The non-zero entries of a dense batch (B, T, C, H, W) or (B, T, N) as events of a
    layer of `shape` (C, H, W)."""
    return EventBatch.from_dense(data, shape)


def simulate(plan: SimulationPlan, data, threads: int | None = None,
             neurobench: bool = False) -> BatchResult:
    """One batch from rest through the network.

    Args:
        plan: the network, from `compile_network`.
        data: a dense batch (B, T, *input_shape) or an `EventBatch` (read as it is when
            the network's first layer spikes, made dense otherwise).
        threads: samples simulated at once (default: torch's thread count).
        neurobench: also NeuroBench's counts per sample (`BatchResult.neurobench`).

    Returns:
        The output per step, the SynOps per sample and weight layer, the spikes per
        sample and spiking layer.
    """
    # numba: imported when first simulated
    from .cpu_kernel import simulate_sample, simulate_sample_counted

    if isinstance(data, EventBatch) and len(plan.prefix):
        data = data.dense()  # the prefix runs in torch, on the dense input
    prefix = []  # LayerCounts of the prefix's weight layers
    finite = np.isfinite(data.values).all() if isinstance(data, EventBatch) else \
        bool(torch.isfinite(data).all())
    if not finite:  # as for NaN weights: sinabs gives NaN, the kernel plausible numbers
        raise ValueError("the input holds NaN or infinite values (damaged data?)")
    if isinstance(data, EventBatch):
        events, current = data, None
        batch, steps = data.batch, data.steps
    else:
        data = data.detach().to("cpu", torch.float32)
        batch, steps = data.shape[:2]
        if len(plan.prefix):
            events, (current, prefix) = None, _prefix_current(plan, data, neurobench)
        else:
            events, current = events_of(data, plan.shapes[0]), None
    spikes_out = np.zeros((batch, steps, int(np.prod(plan.shapes[-1]))), dtype=np.float32)
    stage_synops = np.zeros((batch, len(plan.stages)), dtype=np.float64)
    spike_counts = np.zeros((batch, len(plan.stages)), dtype=np.float64)
    stage_neurobench = np.zeros((batch, len(plan.stages), 3), dtype=np.float64)
    no_events = (np.zeros(0, np.int32),) * 4 + (np.zeros(0, np.float32),)
    no_current = np.zeros((1, 1), np.float32)
    kernel = simulate_sample_counted if neurobench else simulate_sample

    def one(sample):
        if events is None:
            inputs = (current[sample], current.shape[1], *no_events)
        else:
            inputs = (no_current, 0, *events.sample(sample))
        kernel(plan.stage_array, plan.weights, plan.biases, plan.cmaps, plan.nonzero_cmaps,
               steps, *inputs, spikes_out[sample], stage_synops[sample], spike_counts[sample],
               stage_neurobench[sample])

    workers = min(max(1, int(threads if threads is not None else torch.get_num_threads())),
                  batch)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(batch)))
    else:
        for sample in range(batch):
            one(sample)
    output, suffix = _suffix_output(plan, spikes_out, neurobench)
    # the weight layers in the network's order: the prefix's, the stages', the suffix's
    synops = np.column_stack([layer.synops for layer in prefix] + [stage_synops[:, 1:]] +
                             [layer.synops for layer in suffix])
    counts = _neurobench_counts(plan, stage_neurobench, spikes_out, prefix, suffix) \
        if neurobench else None
    return BatchResult(output.reshape(batch, steps, -1), synops, spike_counts, counts)


class LayerCounts(NamedTuple):
    """A weight layer's counts per sample (B,), where torch runs it: SynOps, and NeuroBench's
    (None unless asked for)."""
    synops: np.ndarray
    effective: np.ndarray | None = None
    dense: np.ndarray | None = None
    binary: np.ndarray | None = None


def _per_sample(synops, neurobench, batch: int, steps: int, constant: bool = False):
    """`run_counted`'s counts per frame as `LayerCounts` per sample. Frames are sample-major,
    one per step; or one per sample for a `constant` input (a static input expanded over
    time), which stands for all `steps`."""
    def summed(values, binary=False):
        values = values.cpu().numpy()
        if constant:  # one frame, the same at every step
            return values if binary else values * steps
        values = values.reshape(batch, steps)
        return values.all(1) if binary else values.sum(1)
    layers = []
    for number, per_frame in enumerate(synops):
        if neurobench:
            effective, dense, binary = neurobench[number]
            layers.append(LayerCounts(summed(per_frame), summed(effective), summed(dense),
                                      summed(binary, binary=True)))
        else:
            layers.append(LayerCounts(summed(per_frame)))
    return layers


def _prefix_current(plan: SimulationPlan, data: torch.Tensor, neurobench: bool):
    """The prefix (the layers before the first spiking layer) on the input, by torch: its
    output channel-last (B, 1 or T, neurons), one step when the input is static (expanded
    over time); its weight layers' `LayerCounts`."""
    batch, steps = data.shape[:2]
    constant = steps > 0 and data.stride(1) == 0  # a static input expanded over time
    frames = data[:, 0] if constant else data.reshape(batch * steps, *data.shape[2:])
    current, synops, neurobench_frames = run_counted(plan.prefix, frames, neurobench)
    current = _channel_last(current).contiguous().numpy()
    layers = _per_sample(synops, neurobench_frames, batch, steps, constant)
    return current.reshape(batch, 1 if constant else steps, -1), layers


def _suffix_output(plan: SimulationPlan, spikes_out: np.ndarray, neurobench: bool):
    """The layers after the last spiking layer, on its spikes, by torch (as sinabs): their
    output and their weight layers' `LayerCounts`."""
    batch, steps = spikes_out.shape[:2]
    channels, height, width = plan.shapes[-1]
    spikes = torch.from_numpy(spikes_out).reshape(batch * steps, height, width, channels)
    spikes = spikes.permute(0, 3, 1, 2).reshape(batch * steps, *plan.layer_shapes[-1])
    output, synops, neurobench_frames = run_counted(plan.suffix, spikes, neurobench)
    return output, _per_sample(synops, neurobench_frames, batch, steps)


def _neurobench_counts(plan: SimulationPlan, stage_neurobench: np.ndarray,
                       spikes_out: np.ndarray, prefix: list, suffix: list) -> NeuroBenchCounts:
    """NeuroBench's counts per sample: the kernel's for the stages (column 0: effective
    operations, 1: inputs other than 0 and +-1, 2: the events each spiking layer but the
    last emitted, one per non-zero output), torch's for the prefix and the suffix; Dense
    from the plan (every connection at every step, whatever the input)."""
    batch, steps = spikes_out.shape[:2]

    def columns(stage_values, field):
        return np.column_stack([getattr(layer, field) for layer in prefix] + [stage_values] +
                               [getattr(layer, field) for layer in suffix])
    stages = stage_neurobench[:, 1:]
    dense = np.broadcast_to(steps * plan.dense_per_step[1:], stages.shape[:2])
    nonzero = stage_neurobench[:, :-1, 2].sum(1) + \
        np.count_nonzero(spikes_out.reshape(batch, -1), axis=1)
    outputs = steps * sum(int(np.prod(shape)) for shape in plan.shapes)
    return NeuroBenchCounts(effective=columns(stages[..., 0], "effective"),
                            dense=columns(dense, "dense"),
                            binary=columns(stages[..., 1] == 0, "binary"),
                            silent=outputs - nonzero, outputs=outputs)


def _channel_last(tensor: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W*C); (N, C) stays."""
    if tensor.dim() == 4:
        return tensor.permute(0, 2, 3, 1).reshape(tensor.shape[0], -1)
    return tensor.reshape(tensor.shape[0], -1)

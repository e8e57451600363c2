"""The fast simulator's CPU engine: a batch through a `SimulationPlan`, one sample per
thread (the compiled kernel, `cpu_kernel`, releases the GIL). The layers before the first
spiking layer and after the last run in torch, counted as sinabs' hooks count them."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ...data.events import EventBatch
from ..result import BatchResult
from .plan import SimulationPlan, run_counted


def events_of(data: torch.Tensor, shape: tuple) -> EventBatch:
    """The non-zero entries of a dense batch (B, T, C, H, W) or (B, T, N) as events of a
    layer of `shape` (C, H, W)."""
    return EventBatch.from_dense(data, shape)


def simulate(plan: SimulationPlan, data, threads: int | None = None) -> BatchResult:
    """One batch from rest through the network.

    Args:
        plan: the network, from `compile_network`.
        data: a dense batch (B, T, *input_shape) or an `EventBatch` (read as it is when
            the network's first layer spikes, made dense otherwise).
        threads: samples simulated at once (default: torch's thread count).

    Returns:
        The output per step, the SynOps per sample and weight layer, the spikes per
        sample and spiking layer.
    """
    from .cpu_kernel import simulate_sample  # numba: imported when first simulated

    synops_columns = len(plan.weight_layers)
    if isinstance(data, EventBatch) and len(plan.prefix):
        data = data.dense()  # the prefix runs in torch, on the dense input
    if isinstance(data, EventBatch):
        events, current = data, None
        batch, steps = data.batch, data.steps
        synops = np.zeros((batch, synops_columns), dtype=np.float64)
    else:
        data = data.detach().to("cpu", torch.float32)
        batch, steps = data.shape[:2]
        synops = np.zeros((batch, synops_columns), dtype=np.float64)
        if len(plan.prefix):
            events, current = None, _prefix_current(plan, data, synops)
        else:
            events, current = events_of(data, plan.shapes[0]), None
    spikes_out = np.zeros((batch, steps, int(np.prod(plan.shapes[-1]))), dtype=np.float32)
    stage_synops = np.zeros((batch, len(plan.stages)), dtype=np.float64)
    spike_counts = np.zeros((batch, len(plan.stages)), dtype=np.float64)
    no_events = (np.zeros(0, np.int32),) * 4 + (np.zeros(0, np.float32),)
    no_current = np.zeros((1, 1), np.float32)

    def one(sample):
        if events is None:
            inputs = (current[sample], current.shape[1], *no_events)
        else:
            inputs = (no_current, 0, *events.sample(sample))
        simulate_sample(plan.stage_array, plan.weights, plan.biases, plan.cmaps, steps,
                        *inputs, spikes_out[sample], stage_synops[sample], spike_counts[sample])

    workers = min(max(1, int(threads if threads is not None else torch.get_num_threads())),
                  batch)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(batch)))
    else:
        for sample in range(batch):
            one(sample)
    # the stages' weight layers follow the prefix's in the network
    first_stage_column = len(plan.prefix_weight_layers)
    synops[:, first_stage_column:first_stage_column + len(plan.stages) - 1] = stage_synops[:, 1:]
    output = _suffix_output(plan, spikes_out, synops, first_stage_column + len(plan.stages) - 1)
    return BatchResult(output.reshape(batch, steps, -1), synops, spike_counts)


def _prefix_current(plan: SimulationPlan, data: torch.Tensor, synops: np.ndarray):
    """The prefix (the layers before the first spiking layer) on the input, by torch: its
    output channel-last (B, 1 or T, neurons), one step when the input is static (expanded
    over time); its SynOps into the first columns of `synops`."""
    batch, steps = data.shape[:2]
    constant = steps > 0 and data.stride(1) == 0  # a static input expanded over time
    frames = data[:, 0] if constant else data.reshape(batch * steps, *data.shape[2:])
    current, prefix_counts = run_counted(plan.prefix, frames)
    current = _channel_last(current).contiguous().numpy()
    for column, per_frame in enumerate(prefix_counts):
        per_frame = per_frame.cpu().numpy()
        synops[:, column] = per_frame * steps if constant else \
            per_frame.reshape(batch, steps).sum(1)
    return current.reshape(batch, 1 if constant else steps, -1)


def _suffix_output(plan: SimulationPlan, spikes_out: np.ndarray, synops: np.ndarray,
                   first_column: int) -> torch.Tensor:
    """The layers after the last spiking layer, on its spikes, by torch (as sinabs); their
    SynOps into `synops` from `first_column` on."""
    batch, steps = spikes_out.shape[:2]
    channels, height, width = plan.shapes[-1]
    spikes = torch.from_numpy(spikes_out).reshape(batch * steps, height, width, channels)
    spikes = spikes.permute(0, 3, 1, 2).reshape(batch * steps, *plan.layer_shapes[-1])
    output, suffix_counts = run_counted(plan.suffix, spikes)
    for offset, per_frame in enumerate(suffix_counts):
        synops[:, first_column + offset] = per_frame.cpu().numpy().reshape(batch, steps).sum(1)
    return output


def _channel_last(tensor: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W*C); (N, C) stays."""
    if tensor.dim() == 4:
        return tensor.permute(0, 2, 3, 1).reshape(tensor.shape[0], -1)
    return tensor.reshape(tensor.shape[0], -1)

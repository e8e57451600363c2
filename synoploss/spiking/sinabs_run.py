"""sinabs as the simulator: a batch through the converted network itself, with the
SynOps per sample that sinabs' own hooks count (`sinabs.hooks`; they keep only the mean
over a batch, so `SampleSynops` reads the same inputs and connection maps per sample).
`sinabs.network.Network.get_synops` is broken in sinabs 3.1.3 and `SNNAnalyzer` is
deprecated. Nothing here imports `sinabs.backend` or `samna`."""
from __future__ import annotations

from typing import List

import numpy as np
import sinabs
import torch
import torch.nn as nn

from ..data.events import EventBatch
from .convert import spiking_layers
from .result import BatchResult


def run_batch(net, data: torch.Tensor, counter: "SampleSynops", reset: bool = True
              ) -> BatchResult:
    """One batch (B, T, ...) through the sinabs network: its output per step and, from
    `counter` (registered on `net`), the SynOps per sample and weight layer. `reset`:
    every sample starts from rest (False: the state carries over from the last batch)."""
    batch, steps = data.shape[:2]
    output = run_steps(net, data, reset)
    return BatchResult(output, counter.per_sample(batch, steps))
def run_windows(net, events: EventBatch, counter: "SampleSynops", window: int,
                reset: bool = True) -> BatchResult:
    """`run_batch` on a sparse batch, `window` steps at a time made dense (the state
    carried from window to window, so the spikes are those of one long run): memory
    bounded by the window, not by the chunk's steps."""
    outputs, synops = [], 0.0
    for start in range(0, events.steps, window):
        data = events.dense(start, start + window).to(device_of(net))
        outputs.append(run_steps(net, data, reset=reset and start == 0))
        synops = synops + counter.per_sample(events.batch, data.shape[1])
    return BatchResult(torch.cat(outputs, 1), synops)


def device_of(net) -> torch.device:
    for tensor in net.parameters():
        return tensor.device
    return torch.device("cpu")


def run_steps(net, data: torch.Tensor, reset: bool = True) -> torch.Tensor:
    """One batch (B, T, ...) through the network, from rest unless `reset` is False: the
    output at every step, (B, T, n_out). Leaves sinabs' SynOp hook data for this batch on
    `net.spiking_model.hook_data`."""
    batch, steps = data.shape[:2]
    for layer in spiking_layers(net):
        layer.batch_size, layer.num_timesteps = batch, -1
    if reset:
        sinabs.utils.reset_states(net.spiking_model)  # every sample starts from rest
    output = net(data.reshape(batch * steps, *data.shape[2:]))
    return output.reshape(batch, steps, -1)


def hook_synops(net, batch: int, steps: int) -> List[float]:
    """sinabs' own SynOps of the last batch per weight layer (a chain's ModelSynopsHook, or
    the layer hooks times the pooling scale for a graph), summed over its samples."""
    data = getattr(net.spiking_model, "hook_data", {})
    if "synops_per_timestep" in data:
        return [float(value) * steps * batch for value in data["synops_per_timestep"].values()]
    return [float(layer.hook_data["layer_synops_per_timestep"]) * scale * steps * batch
            for _, layer, scale in net.synop_layers]


class SampleSynops:
    """Per-frame SynOps of every counted weight layer (`net.synop_layers`), from the same
    inputs and connection maps as sinabs' hooks (which keep only the mean over the
    batch): hooks registered after sinabs' own, reading the map sinabs stored, times the
    kernel area of the average pooling before the layer (as sinabs' ModelSynopsHook)."""

    def __init__(self, net):
        self.layers = net.synop_layers
        self.frames = {}
        self.handles = [layer.register_forward_hook(self._hook(index, layer, scale))
                        for index, (_, layer, scale) in enumerate(self.layers)]

    def _hook(self, index, layer, scale):
        def record(module, inputs, output):
            data = inputs[0].detach()
            if isinstance(module, nn.Conv2d):
                per_frame = (data * module.hook_data["connection_map"]).flatten(1).sum(
                    1, dtype=torch.float64)
            elif isinstance(module, nn.Conv1d):  # sinabs has no hook for it: the same map
                per_frame = (data * conv1d_connection_map(module, data, output)).flatten(
                    1).sum(1, dtype=torch.float64)
            else:
                per_frame = data.flatten(1).sum(1, dtype=torch.float64) * module.out_features
            self.frames[index] = per_frame * scale
        return record

    def per_sample(self, batch: int, steps: int) -> np.ndarray:
        return np.stack([self.frames[index].reshape(batch, steps).sum(1).cpu().numpy()
                         for index in range(len(self.layers))], axis=1)

    def remove(self):
        for handle in self.handles:
            handle.remove()


def conv1d_connection_map(layer: nn.Conv1d, data, output) -> torch.Tensor:
    """Each input neuron's connections (a transposed convolution of ones, as sinabs'
    conv_connection_map for Conv2d)."""
    ones = torch.ones((1, *output.shape[1:]), device=data.device)
    connections = torch.nn.functional.conv_transpose1d(
        ones, torch.ones_like(layer.weight), None, layer.stride, layer.padding,
        output_padding=0, groups=layer.groups, dilation=layer.dilation)[..., :data.shape[-1]]
    # inputs past the last window (a stride that does not divide the length) feed nothing
    return torch.nn.functional.pad(connections, (0, data.shape[-1] - connections.shape[-1]))

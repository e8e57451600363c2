"""Conversion to integrate-and-fire spiking networks with sinabs, and their evaluation.

SynOps of the spiking network are measured by sinabs' own hooks (`sinabs.hooks`), an
implementation independent of our analog estimate (`synoploss.synops`), so that the two
can be compared. (`sinabs.network.Network.get_synops` is broken in sinabs 3.1.3 and
`SNNAnalyzer` is deprecated.) Nothing here imports `sinabs.backend` or `samna`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterable, List, Sequence

import numpy as np
import sinabs
import sinabs.activation
import sinabs.hooks
import sinabs.layers
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .quantize import NeuromorphicReLU, QuantizeLayer
from .synops import as_sequential

SPIKE_FUNCTIONS = {
    "multi": sinabs.activation.MultiSpike,    # several spikes per step allowed
    "single": sinabs.activation.SingleSpike,  # at most one spike per step
}


def to_spiking(model: nn.Module, input_shape: Sequence[int], num_timesteps: int | None = None,
               batch_size: int = 1, min_v_mem: float | None = None, spike_fn: str = "multi",
               bias_rescaling: float = 1.0):
    """A sinabs spiking copy of `model` (the model itself is left untouched).

    Every ReLU-like layer (nn.ReLU, our NeuromorphicReLU, and a QuantizeLayer on the
    output) becomes an integrate-and-fire layer (`IAFSqueeze`): threshold 1, reset by
    subtracting the threshold, `spike_fn` "multi" (several spikes per step) or "single".
    `min_v_mem=None` means no lower bound on the membrane potential. Biases are added at
    every time step, divided by `bias_rescaling` (pass the number of steps when a static
    input is spread over them, so that the total drive matches the analog network).
    The network is flattened into one Sequential (`net.spiking_model`) with sinabs'
    SynOp hooks registered on it.
    """
    if spike_fn not in SPIKE_FUNCTIONS:
        raise ValueError(f"spike_fn must be one of {sorted(SPIKE_FUNCTIONS)}, got {spike_fn!r}")
    analog = copy.deepcopy(model)
    sequential = as_sequential(analog, input_shape)
    # sinabs.from_model replaces exact nn.ReLU instances only (type(...) == nn.ReLU).
    layers = [nn.ReLU() if isinstance(layer, (NeuromorphicReLU, QuantizeLayer)) else layer
              for layer in sequential]
    sequential = nn.Sequential(*layers).eval()
    net = sinabs.from_model(
        sequential, input_shape=tuple(input_shape), spike_threshold=torch.tensor(1.0),
        spike_fn=SPIKE_FUNCTIONS[spike_fn], reset_fn=sinabs.activation.MembraneSubtract(),
        min_v_mem=min_v_mem, bias_rescaling=bias_rescaling, batch_size=batch_size,
        num_timesteps=num_timesteps)
    net.eval()
    sinabs.hooks.register_synops_hooks(net.spiking_model)
    return net


def spiking_layers(net) -> List[sinabs.layers.IAFSqueeze]:
    return [layer for layer in net.spiking_model if isinstance(layer, sinabs.layers.SqueezeMixin)]


@dataclass
class SpikingResult:
    predictions: np.ndarray
    labels: np.ndarray
    layer_synops: List[float] = field(default_factory=list)  # per sample, per weight layer
    output_spikes: np.ndarray | None = None

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else float("nan")

    @property
    def synops(self) -> float:
        return float(sum(self.layer_synops))


def run_spiking_steps(net, data: torch.Tensor) -> torch.Tensor:
    """One batch (B, T, ...) through the network from a reset state: the output at every
    step, (B, T, n_out). Leaves sinabs' SynOp hook data for this batch on
    `net.spiking_model.hook_data`."""
    batch, steps = data.shape[:2]
    for layer in spiking_layers(net):
        layer.batch_size, layer.num_timesteps = batch, -1
    sinabs.utils.reset_states(net.spiking_model)  # every sample starts from rest
    output = net(data.reshape(batch * steps, *data.shape[2:]))
    return output.reshape(batch, steps, -1)


def run_spiking(net, data: torch.Tensor) -> torch.Tensor:
    """One batch (B, T, ...) through the network from a reset state: the output summed
    over time, (B, n_out) (`run_spiking_steps`, summed)."""
    return run_spiking_steps(net, data).sum(1)


def hook_synops(net, batch: int, steps: int) -> List[float]:
    """sinabs' SynOps of the last batch per weight layer, summed over its samples."""
    per_layer = net.spiking_model.hook_data["synops_per_timestep"]
    return [float(value) * steps * batch for value in per_layer.values()]


def evaluate_spiking(net, batches: Iterable, device=None, progress: bool | str = False,
                     keep_output: bool = False) -> SpikingResult:
    """Run batches of (data (B, T, C, H, W), labels) and collect what sinabs measures.

    The state is reset before every batch and samples in a batch are independent, so
    every sample starts from rest. Prediction: argmax of output spikes summed over time.
    SynOps: sinabs' per-layer SynOps per time step (averaged over B*T) times T, i.e.
    SynOps per sample, averaged over all samples. Zero-padding in time adds none.
    """
    device = device or next(net.parameters()).device
    predictions, labels, outputs = [], [], []
    synop_sums = None
    sample_count = 0
    iterator = tqdm(batches, desc=progress if isinstance(progress, str) else "spiking",
                    leave=False, disable=not progress)
    with torch.no_grad():
        for data, target in iterator:
            data = data.to(device, torch.float32)
            batch, steps = data.shape[:2]
            output = run_spiking(net, data)
            layer_totals = np.array(hook_synops(net, batch, steps))
            synop_sums = layer_totals if synop_sums is None else synop_sums + layer_totals
            sample_count += batch
            predictions.append(output.argmax(1).cpu().numpy())
            labels.append(np.asarray(target).reshape(-1))
            if keep_output:
                outputs.append(output.cpu().numpy())
    if sample_count == 0:
        raise ValueError("evaluate_spiking: no batches to evaluate")
    return SpikingResult(
        predictions=np.concatenate(predictions), labels=np.concatenate(labels),
        layer_synops=[float(value) for value in synop_sums / sample_count],
        output_spikes=np.concatenate(outputs) if keep_output else None)


class StaticInputBatches:
    """Batches (data * scale / steps repeated over `steps` time steps, label) from a
    loader of static inputs: the analog input injected as a constant current, so that
    the total drive over the steps equals the analog network's input."""

    def __init__(self, loader, steps: int, scale: float = 1.0):
        self.loader, self.steps, self.scale = loader, steps, scale

    def __iter__(self):
        for data, target in self.loader:
            current = data * self.scale / self.steps
            yield current.unsqueeze(1).expand(-1, self.steps, *current.shape[1:]), target

"""Conversion to integrate-and-fire spiking networks with sinabs, and their evaluation.

SynOps of the spiking network are measured by sinabs' own hooks (`sinabs.hooks`), an
implementation independent of our analog estimate (`synoploss.synops`), so that the two
can be compared. (`sinabs.network.Network.get_synops` is broken in sinabs 3.1.3 and
`SNNAnalyzer` is deprecated.) Nothing here imports `sinabs.backend` or `samna`.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
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
    `min_v_mem=None` means no lower bound on the membrane potential. BatchNorms are
    folded into the weight layers before them (`graph.fold_batchnorm`, exact in eval
    mode). Biases (a folded BatchNorm's shift too) are added at every time step, divided
    by `bias_rescaling`: pass the number of steps when a static input is spread over them,
    so that the total drive matches the analog network.

    A model whose forward is its layers in order becomes one Sequential
    (`net.spiking_model`, sinabs' SynOp hooks on it, the fast simulator can run it); any
    other supported graph (residual additions, branches, `torch.flatten` in forward) keeps
    its own forward, its ReLUs replaced in place (`graph.trace` refuses what cannot be
    converted, naming it). `net.synop_layers` lists (name, layer, pooling scale) of the
    weight layers whose SynOps are counted: the names are the model's own.
    """
    from .graph import WEIGHTED, fold_batchnorm, trace
    if spike_fn not in SPIKE_FUNCTIONS:
        raise ValueError(f"spike_fn must be one of {sorted(SPIKE_FUNCTIONS)}, got {spike_fn!r}")
    analog = fold_batchnorm(copy.deepcopy(model).eval())
    graph = trace(analog)  # refuses, by name, what cannot be converted or counted
    names = {id(module): name for name, module in analog.named_modules()}
    try:
        chain = as_sequential(analog, input_shape)
    except ValueError:
        chain = None
    if chain is not None:
        # sinabs.from_model replaces exact nn.ReLU instances only (type(...) == nn.ReLU).
        layer_names = [names[id(layer)] for layer in chain]
        spiking_input = nn.Sequential(*[
            nn.ReLU() if isinstance(layer, (NeuromorphicReLU, QuantizeLayer)) else layer
            for layer in chain]).eval()
    else:
        spiking_input = _relus_for_activations(analog).eval()
    if bias_rescaling == 1.0 and any(getattr(layer, "bias", None) is not None
                                     and bool(layer.bias.detach().abs().sum() > 0)
                                     for layer in spiking_input.modules()
                                     if isinstance(layer, WEIGHTED)):
        warnings.warn("to_spiking: the network has biases, added at every time step; pass "
                      "bias_rescaling=<steps> when the analog network sees its input once",
                      stacklevel=2)
    net = sinabs.from_model(
        spiking_input, input_shape=tuple(input_shape), spike_threshold=torch.tensor(1.0),
        spike_fn=SPIKE_FUNCTIONS[spike_fn], reset_fn=sinabs.activation.MembraneSubtract(),
        min_v_mem=min_v_mem, bias_rescaling=bias_rescaling, batch_size=batch_size,
        num_timesteps=num_timesteps)
    net.eval()
    if chain is not None:
        sinabs.hooks.register_synops_hooks(net.spiking_model)
        scales = _pooling_scales(net.spiking_model)
        net.synop_layers = [(layer_names[index], net.spiking_model[index], scales[index])
                            for index in scales
                            if isinstance(net.spiking_model[index], WEIGHTED)]
    else:
        modules = dict(net.spiking_model.named_modules())
        net.synop_layers = [(name, modules[name], graph.pool_scale[name])
                            for name in graph.order if isinstance(modules[name], WEIGHTED)]
        for _, layer, _ in net.synop_layers:
            if isinstance(layer, nn.Conv2d):
                layer.register_forward_hook(sinabs.hooks.conv_layer_synops_hook)
            elif isinstance(layer, nn.Linear):
                layer.register_forward_hook(sinabs.hooks.linear_layer_synops_hook)
    return net


def _relus_for_activations(model: nn.Module) -> nn.Module:
    """`model` with every NeuromorphicReLU and QuantizeLayer replaced (in place) by the
    nn.ReLU sinabs converts; the model's forward is kept."""
    for name, child in list(model.named_children()):
        if isinstance(child, (NeuromorphicReLU, QuantizeLayer)):
            setattr(model, name, nn.ReLU())
        else:
            _relus_for_activations(child)
    return model


def spiking_layers(net) -> List[sinabs.layers.IAFSqueeze]:
    return [layer for layer in net.spiking_model.modules()
            if isinstance(layer, sinabs.layers.SqueezeMixin)]


@dataclass
class SpikingResult:
    """What a spiking test measured, per sample: predictions, labels, SynOps per weight
    layer (`sample_synops`, samples x layers, as sinabs.hooks counts them), and with
    `keep_output` the output summed over time."""
    predictions: np.ndarray
    labels: np.ndarray
    sample_synops: np.ndarray  # (samples, weight layers)
    output_spikes: np.ndarray | None = None
    layer_names: List[str] | None = None  # the weight layers, by the model's names

    @property
    def layer_synops(self) -> List[float]:
        """SynOps per sample of every weight layer (means over samples)."""
        return [float(value) for value in self.sample_synops.mean(0)]

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.labels) else float("nan")

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
    """sinabs' own SynOps of the last batch per weight layer (a chain's ModelSynopsHook, or
    the layer hooks times the pooling scale for a graph), summed over its samples."""
    data = getattr(net.spiking_model, "hook_data", {})
    if "synops_per_timestep" in data:
        return [float(value) * steps * batch for value in data["synops_per_timestep"].values()]
    return [float(layer.hook_data["layer_synops_per_timestep"]) * scale * steps * batch
            for _, layer, scale in net.synop_layers]


def _pooling_scales(model: nn.Sequential) -> dict:
    """{weight layer index: the kernel areas of the average pooling since the previous
    weight layer}: sinabs' ModelSynopsHook multiplies a layer's count by it."""
    scales, scale = {}, 1
    for index, layer in enumerate(model):
        if isinstance(layer, nn.AvgPool2d):
            kernel = layer.kernel_size
            scale *= kernel ** 2 if isinstance(kernel, int) else kernel[0] * kernel[1]
        if hasattr(layer, "weight"):
            scales[index] = scale
            scale = 1
    return scales


class _SampleSynops:
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
                per_frame = (data * _conv1d_connection_map(module, data, output)).flatten(
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


def _conv1d_connection_map(layer: nn.Conv1d, data, output) -> torch.Tensor:
    """Each input neuron's connections (a transposed convolution of ones, as sinabs'
    conv_connection_map for Conv2d)."""
    ones = torch.ones((1, *output.shape[1:]), device=data.device)
    connections = torch.nn.functional.conv_transpose1d(
        ones, torch.ones_like(layer.weight), None, layer.stride, layer.padding,
        output_padding=0, groups=layer.groups, dilation=layer.dilation)[..., :data.shape[-1]]
    # inputs past the last window (a stride that does not divide the length) feed nothing
    return torch.nn.functional.pad(connections, (0, data.shape[-1] - connections.shape[-1]))


def evaluate_spiking(net, batches: Iterable, device=None, progress: bool | str = False,
                     keep_output: bool = False) -> SpikingResult:
    """Run batches of (data (B, T, C, H, W), labels) through sinabs and collect what it
    measures.

    The state is reset before every batch and samples in a batch are independent, so
    every sample starts from rest. Prediction: argmax of output spikes summed over time.
    SynOps: per sample and weight layer, input times connection map as sinabs.hooks
    counts them (their per-batch means are sinabs' own numbers; tests check both agree).
    Zero-padding in time adds none.
    """
    device = device or next(net.parameters()).device
    predictions, labels, outputs, sample_synops = [], [], [], []
    counter = _SampleSynops(net)
    iterator = tqdm(batches, desc=progress if isinstance(progress, str) else "spiking",
                    leave=False, disable=not progress)
    try:
        with torch.no_grad():
            for data, target in iterator:
                data = data.to(device, torch.float32)
                batch, steps = data.shape[:2]
                output = run_spiking(net, data)
                sample_synops.append(counter.per_sample(batch, steps))
                predictions.append(output.argmax(1).cpu().numpy())
                labels.append(np.asarray(target).reshape(-1))
                if keep_output:
                    outputs.append(output.cpu().numpy())
    finally:
        counter.remove()
    if not predictions:
        raise ValueError("evaluate_spiking: no batches to evaluate")
    return SpikingResult(
        predictions=np.concatenate(predictions), labels=np.concatenate(labels),
        sample_synops=np.concatenate(sample_synops),
        output_spikes=np.concatenate(outputs) if keep_output else None,
        layer_names=[name for name, _, _ in net.synop_layers])


def evaluate(net, batches: Iterable, simulator: str = "sinabs", device=None,
             progress: bool | str = False, keep_output: bool = False,
             threads: int | None = None) -> SpikingResult:
    """`evaluate_spiking` (simulator "sinabs", the paper's) or the exact fast simulator
    (`simulator.evaluate_fast`, "fast"): the same batches in, the same result out."""
    from .simulator import SIMULATORS, evaluate_fast
    if simulator not in SIMULATORS:
        raise ValueError(f"--simulator {simulator}: must be one of {', '.join(SIMULATORS)}")
    if simulator == "fast":
        if device is not None:
            net = net.to(device)
        return evaluate_fast(net, batches, progress=progress, keep_output=keep_output,
                             threads=threads)
    return evaluate_spiking(net, batches, device=device, progress=progress,
                            keep_output=keep_output)


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

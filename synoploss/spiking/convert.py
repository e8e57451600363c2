"""Conversion of an analog network to an integrate-and-fire network with sinabs, with
sinabs' SynOp hooks on its weight layers, and the static-input encoding of the CIFAR-10
and MNIST tests. Nothing here imports `sinabs.backend` or `samna`."""
from __future__ import annotations

import copy
import warnings
from typing import List, Sequence

import sinabs
import sinabs.activation
import sinabs.hooks
import sinabs.layers
import torch
import torch.nn as nn

from ..graph import WEIGHTED, UnsupportedLayer, fold_batchnorm, trace
from ..quantize import NeuromorphicReLU, QuantizeLayer
from ..synops import as_sequential

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

    Args:
        model: the analog network (our NeuromorphicReLUs, or nn.ReLU).
        input_shape: one sample's shape, e.g. (1, 64, 64).
        num_timesteps: sinabs' steps per sample (the simulators set it per batch).
        batch_size: sinabs' samples per batch (the simulators set it per batch).
        min_v_mem: the membrane's lower bound (None: none, as the MNIST-DVS tests).
        spike_fn: "multi" (several spikes per step) or "single".
        bias_rescaling: biases are divided by this at every step.

    Returns:
        A `sinabs.network.Network`; `evaluate` or `Simulation` run it on either simulator.

    Raises:
        ValueError: an unknown `spike_fn`, or (graph.UnsupportedLayer) a layer that cannot
            be converted or counted, by name.
    """
    if spike_fn not in SPIKE_FUNCTIONS:
        raise ValueError(f"spike_fn must be one of {sorted(SPIKE_FUNCTIONS)}, got {spike_fn!r}")
    analog = fold_batchnorm(copy.deepcopy(model).eval())
    graph = trace(analog)  # refuses, by name, what cannot be converted or counted
    numeric_padding(analog)
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
    net.input_shape = tuple(int(size) for size in input_shape)  # checked per batch
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


def numeric_padding(model: nn.Module) -> None:
    """Every convolution's padding='same' or 'valid' as numbers (in place): sinabs' SynOp
    hooks compute the connection map from numeric padding only (a string made every spiking
    test fail with a bare TypeError). 'same' that pads one side more (dilation x (kernel -
    1) odd) has no numeric form: refused by name."""
    for name, layer in model.named_modules():
        if not isinstance(layer, (nn.Conv1d, nn.Conv2d)) or not isinstance(layer.padding, str):
            continue
        totals = [dilation * (kernel - 1) for dilation, kernel in
                  zip(layer.dilation, layer.kernel_size, strict=True)]
        if layer.padding == "same" and any(total % 2 for total in totals):
            raise UnsupportedLayer(
                f"{name} ({layer}): padding='same' pads one side more than the other here "
                "(dilation x (kernel - 1) is odd); give the padding as numbers, or an odd "
                "kernel")
        padding = tuple(total // 2 if layer.padding == "same" else 0 for total in totals)
        layer.padding = padding
        layer._reversed_padding_repeated_twice = [size for size in reversed(padding)
                                                  for _ in range(2)]


def activation_sizes(net, sample_shape: Sequence[int]) -> List[int]:
    """The neurons of one sample at one step: the input's, then every layer's output in
    the order the network computes them (the last is the network's output). From one
    step of one sample; the states it leaves are reset."""
    model = net.spiking_model if hasattr(net, "spiking_model") else net
    sizes = [int(torch.Size(sample_shape).numel())]
    leaves = [module for module in model.modules() if not list(module.children())]
    handles = [module.register_forward_hook(
        lambda _, __, output: sizes.append(output[0].numel()) if torch.is_tensor(output)
        else None) for module in leaves]
    parameters = list(model.parameters())
    probe = torch.zeros(1, *sample_shape, device=parameters[0].device if parameters else "cpu")
    spiking = [layer for layer in model.modules() if isinstance(layer, sinabs.layers.SqueezeMixin)]
    kept = [(layer.batch_size, layer.num_timesteps) for layer in spiking]
    try:
        for layer in spiking:
            layer.batch_size, layer.num_timesteps = 1, -1
        with torch.no_grad():
            output = model(probe)
        sinabs.utils.reset_states(model)
    finally:
        for handle in handles:
            handle.remove()
        for layer, (batch_size, steps) in zip(spiking, kept, strict=True):
            layer.batch_size, layer.num_timesteps = batch_size, steps
    return sizes + [output[0].numel()]


def window_step_bytes(net, sample_shape: Sequence[int], batch: int) -> int:
    """The memory one time step of a dense window takes: every layer's output (float32)
    and a temporary as large, for the batch. (sinabs keeps a window's outputs of every
    layer alive while it runs: a 2 GiB window sized by the widest layer alone peaked at
    3.45 GiB on the MNIST-DVS network.)"""
    return 4 * 2 * batch * sum(activation_sizes(net, sample_shape))


def time_window(net, sample_shape: Sequence[int], batch: int, memory_bytes: float) -> int:
    """Time steps per window such that a window of the batch fits in `memory_bytes`
    (`window_step_bytes`): how the simulators bound their memory when a chunk has many
    steps."""
    return max(1, int(memory_bytes // window_step_bytes(net, sample_shape, batch)))


def _pooling_scales(model: nn.Sequential) -> dict:
    """{weight layer index: the kernel areas of the average pooling between it and the
    spiking or weight layer before it}: sinabs' ModelSynopsHook multiplies a layer's count
    by it (the spikes before an average pooling are what a chip routes). Unlike that hook,
    the area stops at a spiking layer: its output is spike counts, not averages, so an
    average pooling before it does not scale the next layer's SynOps (the hook carries it
    on, counting e.g. AvgPool(2) -> IAF -> Linear four times over), as `graph.pool_scale`
    and the fast simulator count."""
    scales, scale = {}, 1
    for index, layer in enumerate(model):
        if isinstance(layer, nn.AvgPool2d):
            kernel = layer.kernel_size
            scale *= kernel ** 2 if isinstance(kernel, int) else kernel[0] * kernel[1]
        if isinstance(layer, sinabs.layers.SqueezeMixin):
            scale = 1
        if hasattr(layer, "weight"):
            scales[index] = scale
            scale = 1
    return scales


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

"""Synaptic-operation (SynOp) estimates for analog networks with NeuromorphicReLUs.

A SynOp is one spike delivered over one synapse. For a ReLU layer whose (quantized)
output is read as a spike count, the SynOps it causes are its output times the number of
outgoing connections of each neuron (its fan-out), summed over neurons.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .quantize import NeuromorphicReLU, QuantizeLayer, SumPool2d

PASS_THROUGH = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.Dropout3d, nn.AlphaDropout,
                nn.Flatten, nn.Identity)
WEIGHTED = (nn.Conv2d, nn.Linear)
POOLING = (nn.AvgPool2d, SumPool2d)
# "paper": one constant per layer, the next weight layer's connections per input neuron
# ignoring borders (the original's numbers); "exact": per-neuron maps (borders, padding).
FANOUTS = ("paper", "exact")


def flatten_layers(model: nn.Module) -> List[nn.Module]:
    """The model's leaf layers in registration order.

    Our models (an `nn.Sequential`, or the paper's shape: an input NeuromorphicReLU
    followed by a `seq` Sequential) apply their children one after the other, so this
    list is their forward chain. Callers that rely on it check the claim numerically.
    """
    children = list(model.children())
    if not children:
        return [model]
    layers: List[nn.Module] = []
    for child in children:
        layers.extend(flatten_layers(child))
    return layers


def as_sequential(model: nn.Module, input_shape: Sequence[int] | None = None) -> nn.Sequential:
    """A flat `nn.Sequential` of the model's layers (sharing their parameters).

    With `input_shape`, checks with one forward pass that the model really is that chain:
    every layer called once, in registration order, each fed the previous one's output.
    Otherwise a ValueError, since fan-outs and conversion would be wrong.
    """
    layers = flatten_layers(model)
    if input_shape is not None and layers != [model]:
        calls = []

        def record(layer, inputs, output):
            calls.append((layer, inputs[0] if inputs else None, output))

        hooks = [layer.register_forward_hook(record) for layer in layers]
        probe = torch.rand(1, *input_shape, device=_device_of(model))
        try:
            with torch.no_grad():
                model(probe)
        finally:
            for hook in hooks:
                hook.remove()
        chained = [layer for layer, _, _ in calls] == layers and calls[0][1] is probe and all(
            inputs is previous_output
            for (_, _, previous_output), (_, inputs, _) in zip(calls, calls[1:]))
        if not chained:
            raise ValueError(
                f"{type(model).__name__}.forward is not the chain of its layers in "
                "registration order; build it as an nn.Sequential (optionally preceded by "
                "an input NeuromorphicReLU) so that fan-outs and conversion are exact")
    return nn.Sequential(*layers)


def _device_of(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _connectivity_forward(layer: nn.Module, data: torch.Tensor) -> torch.Tensor:
    """The layer with every existing connection set to weight 1 (biases off).

    Backpropagating ones through a chain of such layers counts, for each input neuron,
    its paths to the next layer's neurons: the fan-out.
    """
    if isinstance(layer, nn.Conv2d):
        ones = torch.ones_like(layer.weight)
        if layer.padding_mode != "zeros":
            raise ValueError(f"cannot compute fan-outs through {layer}: padding_mode "
                             f"{layer.padding_mode!r} (only 'zeros')")
        return F.conv2d(data, ones, None, layer.stride, layer.padding, layer.dilation,
                        layer.groups)
    if isinstance(layer, nn.Linear):
        return F.linear(data, torch.ones_like(layer.weight))
    if isinstance(layer, nn.AvgPool2d):
        return F.avg_pool2d(data, layer.kernel_size, layer.stride, layer.padding,
                            layer.ceil_mode, layer.count_include_pad, divisor_override=1)
    if isinstance(layer, SumPool2d):
        return layer(data)
    if isinstance(layer, nn.Flatten):
        return layer(data)
    if isinstance(layer, PASS_THROUGH):
        return data  # dropout is the identity at inference
    raise ValueError(f"cannot compute fan-outs through layer {layer!r}: supported are "
                     "Conv2d, Linear, AvgPool2d, SumPool2d, Dropout, Flatten, Identity")


@dataclass
class FanoutSummary:
    name: str
    activation_shape: tuple
    mean_fanout: float
    max_fanout: float


def paper_fanout(layer: nn.Module) -> float:
    """The fan-out the paper gives every neuron that feeds `layer`: a convolution's
    kernel area x output channels / (stride area x groups), a linear layer's outputs.
    It ignores borders and padding, so it overcounts the neurons at the edges."""
    if isinstance(layer, nn.Conv2d):
        kernel = layer.kernel_size[0] * layer.kernel_size[1]
        stride = layer.stride[0] * layer.stride[1]
        return kernel * layer.out_channels / (stride * layer.groups)
    return float(layer.out_features)


def assign_fanout(model: nn.Module, input_shape: Sequence[int], mode: str = "exact",
                  output_fanout: float = 0.0) -> List[FanoutSummary]:
    """Set every NeuromorphicReLU's `fanout`, the connections of each of its neurons.

    mode "exact": the per-neuron map of connections to the neurons of the next
    NeuromorphicReLU (or to the network's output neurons, for the last one), through the
    layers in between (border effects, strides, padding, dilation, groups, pooling that
    drops rows included). mode "paper": one constant per layer, `paper_fanout` of the
    next weight layer, as the paper's estimate (e.g. 72, 108, 108, 10 for MNIST-DVS).
    A last NeuromorphicReLU with no weight layer after it (the output layer) gets
    `output_fanout` in "paper" mode (the original counts CIFAR-10's output spikes once)
    and 0 in "exact" mode. `input_shape` is one sample's shape, e.g. (1, 64, 64).
    Returns one summary per NeuromorphicReLU.
    """
    if mode not in FANOUTS:
        raise ValueError(f"fan-out mode must be one of {FANOUTS}, got {mode!r}")
    named = [(name, layer) for name, layer in model.named_modules()
             if not list(layer.children())]
    relu_positions = [i for i, (_, layer) in enumerate(named)
                      if isinstance(layer, NeuromorphicReLU)]
    if not relu_positions:
        raise ValueError("assign_fanout: the model has no NeuromorphicReLU layer")
    as_sequential(model, input_shape)  # verifies the chain claim
    device = _device_of(model)

    # Activation shape at every layer boundary, from one probe forward pass.
    shapes = []
    data = torch.zeros(1, *input_shape, device=device)
    with torch.no_grad():
        for _, layer in named:
            shapes.append(tuple(data.shape[1:]))
            data = layer(data)
    summaries = []
    for index, position in enumerate(relu_positions):
        name, relu = named[position]
        activation_shape = shapes[position]
        # up to the next NeuromorphicReLU, or to the end of the network (e.g. a last
        # linear layer read out through a QuantizeLayer); nothing after it: fan-out 0
        stop = relu_positions[index + 1] if index + 1 < len(relu_positions) else len(named)
        following = [layer for _, layer in named[position + 1:stop]]
        weighted = [layer for layer in following if isinstance(layer, WEIGHTED)]
        if mode == "paper":
            constant = paper_fanout(weighted[0]) if weighted else float(output_fanout)
            fanout = torch.full(activation_shape, constant, device=device)
        elif not weighted:
            fanout = torch.zeros(activation_shape, device=device)
        else:
            probe = torch.zeros(1, *activation_shape, device=device, requires_grad=True)
            data = probe
            for layer in following:
                if not isinstance(layer, QuantizeLayer):  # the output quantizer: identity
                    data = _connectivity_forward(layer, data)
            (fanout,) = torch.autograd.grad(data.sum(), probe)
            fanout = fanout[0].detach()
        # a constant is stored as one number (broadcast), a map as the map
        relu.fanout = fanout.flatten()[0] if mode == "paper" else fanout
        summaries.append(FanoutSummary(name or type(relu).__name__, activation_shape,
                                       float(fanout.mean()), float(fanout.max())))
    return summaries


class SynOpCounter:
    """Sums the `activity` (SynOps per sample) of a model's NeuromorphicReLUs.

    Call it after a forward pass: it returns the SynOps per sample as a differentiable
    scalar, or one value per layer with `sum_activations=False`. Layers with fan-out 0
    (e.g. the output layer) are left out.

    How it differs from sinabs.synopcounter.SynOpCounter (3.1.3, deprecated there in
    favour of sinabs.hooks): it counts our NeuromorphicReLU (sinabs' counts only its own
    class), accepts fan-out maps, and `layer_synops()` returns one differentiable vector.
    The SynOps of *spiking* networks are never counted here: sinabs.hooks measures them
    (`synoploss.spiking`), independently of this estimate.
    """

    def __init__(self, modules: Iterable[nn.Module], sum_activations: bool = True):
        self.modules = [module for module in modules
                        if isinstance(module, NeuromorphicReLU) and bool(module.fanout.any())]
        if not self.modules:
            raise ValueError("SynOpCounter: no NeuromorphicReLU with a non-zero fan-out "
                             "among the modules (did you call assign_fanout?)")
        self.sum_activations = sum_activations

    def __len__(self):
        return len(self.modules)

    def layer_synops(self) -> torch.Tensor:
        """SynOps per sample of each counted layer, as one differentiable vector."""
        if any(module.activity is None for module in self.modules):
            raise RuntimeError("SynOpCounter called before a forward pass")
        return torch.stack([module.activity for module in self.modules])

    def __call__(self):
        per_layer = self.layer_synops()
        return per_layer.sum() if self.sum_activations else list(per_layer.unbind())


@dataclass
class LayerMACs:
    name: str
    macs: int


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> List[LayerMACs]:
    """Dense multiply-accumulates per sample of every Conv2d and Linear layer.

    What the analog (non-spiking) network costs: each output neuron of a convolution
    does in_channels / groups * kernel area MACs, each of a Linear in_features.
    """
    result = []
    hooks = []

    def record(name):
        def hook(layer, inputs, output):
            if isinstance(layer, nn.Conv2d):
                per_output = (layer.in_channels // layer.groups) * layer.kernel_size[0] \
                    * layer.kernel_size[1]
                macs = per_output * output[0].numel()
            else:
                macs = layer.in_features * output[0].numel()
            result.append(LayerMACs(name, int(macs)))
        return hook

    for name, layer in model.named_modules():
        if isinstance(layer, WEIGHTED):
            hooks.append(layer.register_forward_hook(record(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=_device_of(model)))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return result

"""Synaptic-operation (SynOp) estimates for analog networks with NeuromorphicReLUs.

A SynOp is one spike delivered over one synapse. For a ReLU layer whose (quantized)
output is read as a spike count, the SynOps it causes are its output times the number of
outgoing connections of each neuron (its fan-out), summed over neurons.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterable, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .graph import ACTIVATIONS, AVERAGE_POOLING, NORMALISATION, SUM_POOLING, trace
from .quantize import NeuromorphicReLU

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
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
            for (_, _, previous_output), (_, inputs, _) in zip(calls, calls[1:], strict=False))
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


def _connections(layer: nn.Module, data: torch.Tensor) -> torch.Tensor:
    """The weight layer with every existing connection set to weight 1 (biases off):
    backpropagating ones through it counts, for each input neuron, its connections."""
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        if layer.padding_mode != "zeros":
            raise ValueError(f"cannot compute fan-outs through {layer}: padding_mode "
                             f"{layer.padding_mode!r} (only 'zeros')")
        convolution = F.conv2d if isinstance(layer, nn.Conv2d) else F.conv1d
        return convolution(data, torch.ones_like(layer.weight), None, layer.stride,
                           layer.padding, layer.dilation, layer.groups)
    return F.linear(data, torch.ones_like(layer.weight))


@dataclass
class FanoutSummary:
    name: str
    activation_shape: tuple
    mean_fanout: float
    max_fanout: float
    feeds: tuple = ()  # the weight layers its neurons connect to


def paper_fanout(layer: nn.Module) -> float:
    """The fan-out the paper gives every neuron that feeds `layer`: a convolution's
    kernel size x output channels / (stride x groups), a linear layer's outputs.
    It ignores borders and padding, so it overcounts the neurons at the edges."""
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        kernel = stride = 1
        for size in layer.kernel_size:
            kernel *= size
        for size in layer.stride:
            stride *= size
        return kernel * layer.out_channels / (stride * layer.groups)
    return float(layer.out_features)


def exact_fanouts(model: nn.Module, input_shape: Sequence[int], names: Sequence[str]) -> dict:
    """{activation name: its per-neuron connection map} for the activations `names`, from
    one pass of forward hooks: every activation's output becomes a probe of its own (so no
    neuron gets credit for what a later layer's neurons reach), every weight layer adds
    its connections to the objective and passes nothing on, average pooling sums (its
    connections, not its 1/k weights), BatchNorm passes its input (it scales, it does not
    connect). The gradient of the objective with respect to a probe is the map. The
    model's mode and state are left as they were (eval mode during the probe: no
    BatchNorm statistics move, and BatchNorm1d takes one sample)."""
    modules = dict(model.named_modules())
    probes, shapes, terms, handles = {}, {}, [], []

    def activation_hook(name):
        def hook(module, inputs, output):
            shapes[name] = tuple(output.shape[1:])
            if name in names:
                probes[name] = torch.zeros_like(output, dtype=torch.float32,
                                                requires_grad=True)
                return probes[name]
            return torch.zeros_like(output)
        return hook

    def weight_hook(module, inputs, output):
        terms.append(_connections(module, inputs[0].float()).sum())
        return torch.zeros_like(output)

    def pooling_hook(module, inputs, output):
        if isinstance(module, SUM_POOLING):
            # sinabs' SumPool2d is an LPPool2d (p=1): |x| has no gradient at the zero probe,
            # so its input's connections would read 0; the sum it computes, as a plain sum
            return F.avg_pool2d(inputs[0], module.kernel_size, module.stride,
                                getattr(module, "padding", 0), module.ceil_mode,
                                count_include_pad=True, divisor_override=1)
        if isinstance(module, nn.AvgPool2d):
            return F.avg_pool2d(inputs[0], module.kernel_size, module.stride, module.padding,
                                module.ceil_mode, module.count_include_pad, divisor_override=1)
        kernel = module.kernel_size
        return output * (kernel[0] if isinstance(kernel, tuple) else kernel)

    def normalisation_hook(module, inputs, output):
        return inputs[0]

    for name, module in modules.items():
        if isinstance(module, ACTIVATIONS):
            handles.append(module.register_forward_hook(activation_hook(name)))
        elif isinstance(module, WEIGHTED):
            handles.append(module.register_forward_hook(weight_hook))
        elif isinstance(module, AVERAGE_POOLING + SUM_POOLING):
            handles.append(module.register_forward_hook(pooling_hook))
        elif isinstance(module, NORMALISATION):
            handles.append(module.register_forward_hook(normalisation_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            model(torch.zeros(1, *input_shape, device=_device_of(model)))
            present = [name for name in names if name in probes]
            objective = sum(terms) if terms else None
            if objective is not None and objective.requires_grad and present:
                grads = torch.autograd.grad(objective, [probes[n] for n in present],
                                            allow_unused=True)
            else:
                grads = [None] * len(present)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    missing = [name for name in names if name not in probes]
    if missing:
        raise ValueError(f"{', '.join(missing)}: the model's forward never calls it")
    maps = {}
    for name, grad in zip(present, grads, strict=True):
        maps[name] = torch.zeros(shapes[name], device=_device_of(model)) if grad is None \
            else grad[0].detach()
    return maps


def assign_fanout(model: nn.Module, input_shape: Sequence[int], mode: str = "exact",
                  output_fanout: float = 0.0) -> List[FanoutSummary]:
    """Set every NeuromorphicReLU's `fanout`, the connections of each of its neurons, summed
    over every weight layer it feeds (through pooling, flatten, dropout, BatchNorm,
    additions and concatenation; `graph.trace` refuses what it cannot follow, naming it).

    mode "exact": the per-neuron map (border effects, strides, padding, dilation, groups,
    pooling that drops rows included). mode "paper": one constant per layer, the sum of
    `paper_fanout` over the weight layers it feeds, as the paper's estimate (e.g. 72, 108,
    108, 10 for MNIST-DVS). A NeuromorphicReLU that feeds no weight layer (the output
    layer) gets `output_fanout` in "paper" mode (the original counts CIFAR-10's output
    spikes once) and 0 in "exact" mode. The model's mode and state are left as they were.

    Args:
        model: a network whose activations are NeuromorphicReLUs.
        input_shape: one sample's shape, e.g. (1, 64, 64).
        mode: "exact" or "paper".
        output_fanout: the fan-out of a NeuromorphicReLU that feeds no weight layer, in
            "paper" mode.

    Returns:
        One `FanoutSummary` per NeuromorphicReLU, in call order (its name, activation
        shape, mean and largest fan-out, the weight layers it feeds).

    Raises:
        ValueError: `mode` unknown, or a layer the fan-outs cannot be followed through
            (named).
    """
    if mode not in FANOUTS:
        raise ValueError(f"fan-out mode must be one of {FANOUTS}, got {mode!r}")
    graph = trace(model)
    modules = dict(model.named_modules())
    names = [name for name in graph.order if isinstance(modules[name], NeuromorphicReLU)]
    unused = [name for name, module in modules.items()
              if isinstance(module, NeuromorphicReLU) and name not in names]
    if unused:
        raise ValueError(f"{', '.join(unused)}: the model's forward never calls it (its SynOps "
                         "would be counted for spikes it never makes)")
    if not names:
        raise ValueError("assign_fanout: the model has no NeuromorphicReLU layer (make it "
                         "countable first: synops.make_countable)")
    maps = exact_fanouts(model, input_shape, names)
    summaries = []
    for name in names:
        relu, fed = modules[name], graph.feeds.get(name, [])
        if mode == "paper":
            constant = sum(paper_fanout(modules[layer]) for layer in fed) if fed \
                else float(output_fanout)
            fanout = torch.full_like(maps[name], constant)
            relu.fanout = fanout.flatten()[0]  # a constant is stored as one number
        else:
            fanout = maps[name]
            relu.fanout = fanout
        summaries.append(FanoutSummary(name or type(relu).__name__, tuple(fanout.shape),
                                       float(fanout.mean()), float(fanout.max()), tuple(fed)))
    return summaries


def make_countable(model: nn.Module, quantize: bool = False) -> nn.Module:
    """Replace every nn.ReLU of `model` (in place) by a NeuromorphicReLU (quantized with
    `quantize`: quantization-aware training), so that its SynOps can be counted; then
    `assign_fanout`. Returns the model."""
    for name, child in list(model.named_children()):
        if type(child) is nn.ReLU:
            setattr(model, name, NeuromorphicReLU(quantize=quantize))
        else:
            make_countable(child, quantize)
    return model


class SynOpRecording:
    """What the counted layers spent in the forward passes of one `SynOpCounter.record()`
    block: per layer, the SynOps summed over the samples that went through it, and those
    samples. Calls of one layer are combined (DataParallel replicas each see a part of the
    batch); a module used twice in one pass should be two modules."""

    def __init__(self, names: List[str]):
        self.names = names
        self.totals: List[list] = [[] for _ in names]
        self.samples = [0] * len(names)

    def add(self, index: int, total: torch.Tensor, samples: int) -> None:
        self.totals[index].append(total)
        self.samples[index] += samples

    def layer_synops(self) -> torch.Tensor:
        """SynOps per sample of each counted layer, as one differentiable vector."""
        missing = [name for name, samples in zip(self.names, self.samples, strict=True)
                   if samples == 0]
        if missing:
            raise RuntimeError(f"no forward pass of {', '.join(missing)} was recorded (call the "
                               "model inside `with counter.record() as synops:`)")
        device = self.totals[0][0].device
        return torch.stack([sum(total.to(device) for total in totals) / samples
                            for totals, samples in zip(self.totals, self.samples, strict=True)])

    def total(self) -> torch.Tensor:
        """SynOps per sample, summed over the counted layers (differentiable)."""
        return self.layer_synops().sum()


class SynOpCounter:
    """Counts the SynOps per sample of a model's NeuromorphicReLUs in the forward pass it
    watches: `with counter.record() as synops: output = model(data)`, then
    `synops.layer_synops()` (differentiable, one value per layer) or `synops.total()`.
    Layers with fan-out 0 (e.g. the output layer) are left out.

    Nothing is kept on the modules: the recording belongs to the forward pass that made
    it, so a second forward pass before the loss (a validation batch, a teacher), the
    replicas of nn.DataParallel and torch.compile give the penalty of the batch that
    produced it. Each counted layer contributes (output * fanout).sum() / batch, summed
    in float32 (exact under bf16 autocast, where the layer floors in float32).

    How it differs from sinabs.synopcounter.SynOpCounter (3.1.3, deprecated there in
    favour of sinabs.hooks): it counts our NeuromorphicReLU (sinabs' counts only its own
    class), accepts fan-out maps, and keeps no state on the modules. The SynOps of
    *spiking* networks are never counted here: the simulators measure them
    (`synoploss.spiking`), independently of this estimate.

    Args:
        model: the model, or its modules (e.g. `model.modules()`): every NeuromorphicReLU
            among them with a non-zero fan-out is counted, in registration order.

    `record()` returns a context manager whose value, after the forward pass, gives
    `layer_synops()` (a tensor, one mean SynOp count per sample for each counted layer)
    and `total()` (their sum).
    """

    def __init__(self, model: nn.Module | Iterable[nn.Module]):
        modules = model.modules() if isinstance(model, nn.Module) else model
        self.modules = [module for module in modules
                        if isinstance(module, NeuromorphicReLU) and bool(module.fanout.any())]
        if not self.modules:
            raise ValueError("SynOpCounter: no NeuromorphicReLU with a non-zero fan-out "
                             "among the modules (did you call assign_fanout?)")
        self.names = [f"layer {index}" for index in range(len(self.modules))]

    def __len__(self):
        return len(self.modules)

    @contextlib.contextmanager
    def record(self):
        """Record the SynOps of the forward passes inside the block."""
        recording = SynOpRecording(self.names)

        def hook_for(index):
            def hook(module, inputs, output):
                fanout = module.fanout.to(device=output.device, dtype=torch.float32)
                recording.add(index, (output.float() * fanout).sum(), output.shape[0])
            return hook

        handles = [module.register_forward_hook(hook_for(index))
                   for index, module in enumerate(self.modules)]
        try:
            yield recording
        finally:
            for handle in handles:
                handle.remove()


@dataclass
class LayerMACs:
    name: str
    macs: int


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> List[LayerMACs]:
    """Dense multiply-accumulates per sample of every Conv1d, Conv2d and Linear layer, in
    the order the forward calls them.

    What the analog (non-spiking) network costs: each output neuron of a convolution
    does in_channels / groups * kernel area MACs, each of a Linear in_features.
    """
    result = []
    hooks = []

    def record(name):
        def hook(layer, inputs, output):
            if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
                per_output = layer.in_channels // layer.groups
                for size in layer.kernel_size:
                    per_output *= size
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

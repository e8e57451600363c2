"""What a model's forward does, as far as SynOps care: which layers it uses (refusing the
ones a SynOp count or a spiking conversion cannot handle, by name), which weight layers
each activation feeds, and through how much average pooling.

The graph comes from `torch.fx.symbolic_trace`: it sees the user's own forward (residual
additions, branches, concatenation, `torch.flatten` and `x.view` included), where forward
hooks see modules only and would miss a functional `F.relu` or `F.max_pool2d` silently.
Models fx cannot trace (data-dependent control flow) are refused with the reason: build
the forward without it, or as an nn.Sequential.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Dict, List

import sinabs.layers
import torch
import torch.fx
import torch.nn as nn

from .quantize import NeuromorphicReLU, QuantizeLayer, SumPool2d

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
ACTIVATIONS = (NeuromorphicReLU, nn.ReLU, QuantizeLayer, sinabs.layers.IAFSqueeze)
AVERAGE_POOLING = (nn.AvgPool1d, nn.AvgPool2d)
SUM_POOLING = (SumPool2d, sinabs.layers.SumPool2d)
NORMALISATION = (nn.BatchNorm1d, nn.BatchNorm2d)
PASS_THROUGH = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                nn.Flatten, nn.Identity, nn.Unflatten)
SUPPORTED = WEIGHTED + ACTIVATIONS + AVERAGE_POOLING + SUM_POOLING + NORMALISATION + PASS_THROUGH
# functions and methods that move or join spikes without weighting them
PASS_FUNCTIONS = {operator.add, torch.add, torch.flatten, torch.cat, torch.concat,
                  torch.reshape, torch.squeeze, torch.unsqueeze, operator.getitem, getattr}
PASS_METHODS = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "size", "contiguous",
                "add", "__getitem__", "permute", "transpose"}

WHY = {
    nn.MaxPool1d: "max pooling passes the largest input, which a spike count cannot express "
                  "(sinabs turns it into spiking max pooling, which this package does not "
                  "count); use average or sum pooling",
    nn.MaxPool2d: "max pooling passes the largest input, which a spike count cannot express "
                  "(sinabs turns it into spiking max pooling, which this package does not "
                  "count); use average or sum pooling",
    nn.MultiheadAttention: "attention multiplies activations with each other: no fixed "
                           "synapses to count",
    nn.LSTM: "recurrence is not converted by this package", nn.GRU: "recurrence is not "
    "converted by this package", nn.RNN: "recurrence is not converted by this package",
}


class UnsupportedLayer(ValueError):
    """A model holds a layer or operation the SynOp count or the conversion cannot handle."""


@dataclass
class ModelGraph:
    """The traced model: its modules by name, and for the counting what feeds what."""
    module: nn.Module
    traced: torch.fx.GraphModule
    feeds: Dict[str, List[str]] = field(default_factory=dict)   # activation -> weight layers
    pool_scale: Dict[str, float] = field(default_factory=dict)  # weight layer -> pool area
    order: List[str] = field(default_factory=list)              # modules in call order


class _Tracer(torch.fx.Tracer):
    """Every supported module is a leaf: the graph names the user's layers, not their insides."""

    def is_leaf_module(self, module, name):
        return isinstance(module, SUPPORTED) or super().is_leaf_module(module, name)


def trace(model: nn.Module) -> ModelGraph:
    """The model's graph, checked: every module called is supported, every function and
    method moves spikes without weighting them. UnsupportedLayer names what is not."""
    try:
        graph = _Tracer().trace(model)
    except Exception as error:  # fx raises many kinds for untraceable code
        raise UnsupportedLayer(
            f"{type(model).__name__}.forward cannot be traced by torch.fx ({error}); build it "
            "without data-dependent control flow, or as an nn.Sequential") from error
    traced = torch.fx.GraphModule(model, graph)
    modules = dict(model.named_modules())
    result = ModelGraph(model, traced)
    for node in graph.nodes:
        if node.op == "call_module":
            module = modules[node.target]
            if not isinstance(module, SUPPORTED):
                reason = next((why for kind, why in WHY.items() if isinstance(module, kind)),
                              "supported are Conv1d/2d, Linear, average and sum pooling, "
                              "Flatten, dropout, BatchNorm, ReLU, NeuromorphicReLU and "
                              "QuantizeLayer, with additions and concatenation")
                raise UnsupportedLayer(f"layer {node.target} ({type(module).__name__}): {reason}")
            result.order.append(node.target)
        elif node.op == "call_function" and node.target not in PASS_FUNCTIONS:
            name = getattr(node.target, "__name__", str(node.target))
            why = ("a functional activation or pooling is no module, so it cannot be counted "
                   "or converted: use the nn module") if name in (
                "relu", "max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d") else \
                "only additions, concatenation and reshapes may join or move activations"
            raise UnsupportedLayer(f"{node.name} ({name}) in {type(model).__name__}.forward: {why}")
        elif node.op == "call_method" and node.target not in PASS_METHODS:
            raise UnsupportedLayer(f"{node.name} (.{node.target}()) in {type(model).__name__}"
                                   ".forward: only reshapes and additions may move activations")
    _connect(result, modules)
    return result


def _is_shape(node) -> bool:
    """A node that reads a tensor's size, not its values (x.size(0), x.shape)."""
    return (node.op == "call_method" and node.target == "size") or \
        (node.op == "call_function" and node.target is getattr)


def _connect(result: ModelGraph, modules) -> None:
    """feeds: the weight layers each activation reaches without passing another weight
    layer or activation; pool_scale: the average pooling areas between a weight layer and
    the activations feeding it."""
    graph = result.traced.graph
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], ACTIVATIONS):
            continue
        reached, frontier, seen = [], list(node.users), set()
        while frontier:
            user = frontier.pop()
            if user in seen:
                continue
            seen.add(user)
            module = modules.get(user.target) if user.op == "call_module" else None
            if isinstance(module, WEIGHTED):
                reached.append(user.target)
            elif isinstance(module, ACTIVATIONS) or user.op == "output" or _is_shape(user):
                continue
            else:
                frontier.extend(user.users)
        result.feeds[node.target] = sorted(set(reached), key=result.order.index)
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], WEIGHTED):
            continue
        scales, frontier = set(), [(node.args[0], 1.0)]
        while frontier:
            source, scale = frontier.pop()
            module = (modules.get(source.target)
                      if getattr(source, "op", None) == "call_module" else None)
            if module is not None and isinstance(module, AVERAGE_POOLING):
                kernel = module.kernel_size
                kernel = kernel if isinstance(kernel, (tuple, list)) else (kernel,) * (
                    2 if isinstance(module, nn.AvgPool2d) else 1)
                area = 1
                for size in kernel:
                    area *= size
                frontier.append((source.args[0], scale * area))
            elif module is not None and isinstance(module, ACTIVATIONS + WEIGHTED) or \
                    getattr(source, "op", None) == "placeholder":
                scales.add(scale)
            elif isinstance(source, torch.fx.Node):
                frontier.extend((arg, scale) for arg in source.all_input_nodes)
        if len(scales) > 1:
            raise UnsupportedLayer(f"{node.target}: its inputs come through different average "
                                   "pooling; its SynOps could not be counted as sinabs counts them")
        result.pool_scale[node.target] = scales.pop() if scales else 1.0


@torch.no_grad()
def _fold(weight_layer: nn.Module, norm: nn.Module) -> None:
    """Fold an eval-mode BatchNorm into the weight layer before it (in place): the same
    outputs, a bias where there was none."""
    if not norm.track_running_stats or norm.running_mean is None:
        raise UnsupportedLayer(f"{norm}: without running statistics a BatchNorm cannot be "
                               "folded (it normalises each batch by itself)")
    scale = torch.ones_like(norm.running_var) if norm.weight is None else norm.weight
    shift = torch.zeros_like(norm.running_mean) if norm.bias is None else norm.bias
    factor = scale / torch.sqrt(norm.running_var + norm.eps)
    shape = (-1,) + (1,) * (weight_layer.weight.dim() - 1)
    weight_layer.weight.mul_(factor.reshape(shape))
    bias = weight_layer.bias if weight_layer.bias is not None else \
        torch.zeros(weight_layer.weight.shape[0], device=weight_layer.weight.device)
    folded = (bias - norm.running_mean) * factor + shift
    weight_layer.bias = nn.Parameter(folded, requires_grad=weight_layer.weight.requires_grad)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """`model` with every BatchNorm folded into the weight layer that feeds it (in place;
    the BatchNorms become nn.Identity): exact for the model in eval mode, and what a
    spiking network needs, since it has no normalisation, only weights and biases. A
    BatchNorm fed by anything else than one weight layer used nowhere else (a ReLU, a
    branch) cannot be folded: UnsupportedLayer, naming it. Returns the model."""
    modules = dict(model.named_modules())
    norms = [name for name, module in modules.items() if isinstance(module, NORMALISATION)]
    if not norms:
        return model
    graph = trace(model)
    for node in graph.traced.graph.nodes:
        if node.op != "call_module" or node.target not in norms:
            continue
        source = node.args[0]
        layer = modules.get(source.target) if getattr(source, "op", None) == "call_module" else None
        if not isinstance(layer, WEIGHTED) or len(source.users) != 1:
            raise UnsupportedLayer(f"{node.target} (BatchNorm): it is not fed by one weight layer "
                                   "used nowhere else, so it cannot be folded into weights for "
                                   "the spiking network; put it right after a convolution or "
                                   "linear layer")
        _fold(layer, modules[node.target])
        parent, _, child = node.target.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, nn.Identity())
    return model



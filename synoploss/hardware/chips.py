"""Does a network fit a neuromorphic chip, and what do the chip's 8-bit weights do to it?

Speck / DYNAP-CNN (SynSense), the paper's target: 9 cores, each holding one convolutional
layer's kernels and neurons, with kernel and neuron memories of (16, 64), (16, 64),
(16, 64), (32, 32), (32, 32), (64, 16), (64, 16), (16, 16) and (16, 16) Ki words; kernels
of at most 16x16, at most 1024 output channels, strides of 1, 2, 4 or 8, sum pooling of
1x1, 2x2 or 4x4; 8-bit weights with a 16-bit threshold per layer. A linear layer maps as
a convolution whose kernel covers its whole input. The memory of each layer is sinabs'
own formula (`sinabs.validate_memory_speck.ValidateMapping`: kernel memory = input
channels x 2^(ceil log2 kernel area + ceil log2 output channels), neuron memory = output
channels x 2^(ceil log2 width + ceil log2 height)), which needs neither samna nor
sinabs.backend.

This is a check on paper, and an emulation of the chip's arithmetic: not the chip (no
samna, no hardware here). A network that passes still has to be mapped by sinabs'
DynapcnnNetwork, which also places the layers and routes the spikes.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import List, Sequence

import torch
import torch.nn as nn
from sinabs.validate_memory_speck import ValidateMapping

from ..graph import AVERAGE_POOLING, SUM_POOLING, WEIGHTED, trace
from ..synops import as_sequential


@dataclass(frozen=True)
class Chip:
    name: str
    cores: tuple            # (kernel memory, neuron memory) in Ki words, per core
    max_kernel: int = 16
    max_channels: int = 1024
    strides: tuple = (1, 2, 4, 8)
    pool_sizes: tuple = (1, 2, 4)
    weight_bits: int = 8
    threshold_bits: int = 16


SPECK = Chip("speck", cores=((16, 64),) * 3 + ((32, 32),) * 2 + ((64, 16),) * 2 + ((16, 16),) * 2)
CHIPS = {"speck": SPECK}


@dataclass
class LayerFit:
    name: str
    in_channels: int
    out_channels: int
    kernel: tuple
    stride: tuple
    input_size: tuple
    kernel_memory_ki: float
    neuron_memory_ki: float
    bias_words: int
    problems: List[str] = field(default_factory=list)


@dataclass
class ChipFit:
    chip: Chip
    layers: List[LayerFit]
    cores: dict                       # layer name -> core index
    problems: List[str]

    @property
    def fits(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.fits:
            return (f"fits {self.chip.name}: {len(self.layers)} layers on cores "
                    f"{sorted(self.cores.values())}")
        return f"does not fit {self.chip.name}: " + "; ".join(self.problems)


def _input_shapes(model: nn.Module, input_shape: Sequence[int]) -> dict:
    shapes, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, WEIGHTED + AVERAGE_POOLING + SUM_POOLING):
            handles.append(module.register_forward_hook(
                lambda m, inputs, output, name=name: shapes.__setitem__(
                    name, (tuple(inputs[0].shape[1:]), tuple(output.shape[1:])))))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return shapes


def chip_fit(model: nn.Module, input_shape: Sequence[int], chip: Chip = SPECK) -> ChipFit:
    """Whether `model` (analog or the network it converts to) fits `chip`, on paper.

    Args:
        model: the analog network (a chain of layers, as sinabs' DynapcnnNetwork maps).
        input_shape: one sample's shape (C, H, W).
        chip: the chip's limits (`CHIPS`; default Speck).

    Returns:
        A `ChipFit`: each weight layer's kernel, neuron and bias memory, the cores the
        layers take (a layer a core), `fits`, and every problem in words.
    """
    graph = trace(model)
    modules = dict(model.named_modules())
    shapes = _input_shapes(model, input_shape)
    problems, layers = [], []
    try:
        as_sequential(model, input_shape)
    except ValueError:
        problems.append(f"{chip.name} maps a chain of layers (sinabs' DynapcnnNetwork): the "
                        "model's additions or branches are not mapped")
    for name in graph.order:
        module = modules[name]
        if isinstance(module, AVERAGE_POOLING + SUM_POOLING):
            kernel = module.kernel_size if isinstance(module.kernel_size, tuple) else \
                (module.kernel_size,) * 2
            if kernel[0] != kernel[-1] or kernel[0] not in chip.pool_sizes:
                problems.append(f"{name}: pooling {kernel} (the chip sums over 1x1, 2x2 or 4x4)")
            continue
        if not isinstance(module, WEIGHTED):
            continue
        (in_shape, out_shape) = shapes[name]
        if isinstance(module, nn.Conv2d):
            kernel, stride, padding = module.kernel_size, module.stride, module.padding
            in_channels, size = module.in_channels, in_shape[1:]
        elif isinstance(module, nn.Conv1d):
            kernel, stride, padding = (1, module.kernel_size[0]), (1, module.stride[0]), \
                (0, module.padding[0])
            in_channels, size = module.in_channels, (1, in_shape[-1])
        else:  # a linear layer: a convolution whose kernel is its whole input
            source = _unflattened(graph, name, shapes, modules)
            in_channels, size = (source[0], source[1:]) if len(source) == 3 else \
                (module.in_features, (1, 1))
            kernel, stride, padding = tuple(size), (1, 1), (0, 0)
        out_channels = module.weight.shape[0]
        layer = LayerFit(name, in_channels, out_channels, tuple(kernel), tuple(stride),
                         tuple(size), math.nan, math.nan,
                         out_channels if module.bias is not None else 0)
        if max(kernel) > chip.max_kernel:
            layer.problems.append(f"kernel {tuple(kernel)} (at most {chip.max_kernel}x"
                                  f"{chip.max_kernel})")
        if out_channels > chip.max_channels:
            layer.problems.append(f"{out_channels} output channels (at most {chip.max_channels})")
        if any(s not in chip.strides for s in stride):
            layer.problems.append(f"stride {tuple(stride)} (1, 2, 4 or 8)")
        if not layer.problems:
            mapping = ValidateMapping(in_channels, out_channels, tuple(kernel), tuple(stride),
                                      tuple(padding), list(size))
            kernel_ki, neuron_ki, kernel_error, neuron_error = mapping.calculate_total_memory()
            layer.kernel_memory_ki, layer.neuron_memory_ki = float(kernel_ki), float(neuron_ki)
            # sinabs states a missing core once from each memory's side: say it once
            errors = [error for error in (kernel_error, neuron_error) if error]
            if len(errors) == 2 and all(error.startswith("There is no core") for error in errors):
                errors = errors[:1]
            layer.problems += errors
        problems += [f"{name}: {problem}" for problem in layer.problems]
        layers.append(layer)
    if len(layers) > len(chip.cores):
        problems.append(f"{len(layers)} weight layers for {len(chip.cores)} cores")
    cores = _assign_cores(layers, chip)
    unplaced = [layer.name for layer in layers if layer.name not in cores and not layer.problems]
    if unplaced and len(layers) <= len(chip.cores):
        problems.append(f"no core left for {', '.join(unplaced)} (each core holds one layer; "
                        "the layers' memories do not match the cores')")
    return ChipFit(chip, layers, cores, problems)


def _unflattened(graph, name, shapes, modules) -> tuple:
    """The (C, H, W) shape that a linear layer's input had before it was flattened."""
    node = next(node for node in graph.traced.graph.nodes if node.target == name)
    source = node.args[0]
    while getattr(source, "op", None) is not None:
        if source.op == "call_module" and source.target in shapes:
            return shapes[source.target][1]
        if source.op == "call_module" and not isinstance(modules[source.target], nn.Flatten) \
                and source.target in shapes:
            break
        if not source.all_input_nodes:
            break
        source = source.all_input_nodes[0]
    return shapes[name][0]


def _assign_cores(layers: List[LayerFit], chip: Chip) -> dict:
    """A core for every layer that fits one (bipartite matching, augmenting paths)."""
    cores: dict = {}
    owner: dict = {}

    def fits(layer, core):
        kernel, neuron = chip.cores[core]
        return layer.kernel_memory_ki <= kernel and layer.neuron_memory_ki <= neuron

    def place(layer, seen):
        for core in range(len(chip.cores)):
            if core in seen or not fits(layer, core):
                continue
            seen.add(core)
            if core not in owner or place(owner[core], seen):
                owner[core] = layer
                cores[layer.name] = core
                return True
        return False

    for layer in layers:
        if not layer.problems:
            place(layer, set())
    return {layer.name: core for core, layer in owner.items()}


@torch.no_grad()
def quantized_for_chip(model: nn.Module, input_shape: Sequence[int],
                       chip: Chip = SPECK) -> nn.Module:
    """A copy of `model` whose weight layers compute what the chip computes: per layer, an
    integer threshold (the largest that keeps every weight within 2^(bits-1) - 1 once
    multiplied by it) and the weights (and biases) times it, rounded to integers; held here
    as those integers divided by the threshold, so that the network still has threshold 1.
    An average pooling before a layer counts as sum pooling with the layer's weights
    divided by the pooling area, as sinabs' DynapcnnNetwork converts it."""
    quantized = copy.deepcopy(model)
    graph = trace(quantized)
    modules = dict(quantized.named_modules())
    largest = 2 ** (chip.weight_bits - 1) - 1
    for name in graph.order:
        layer = modules[name]
        if not isinstance(layer, WEIGHTED):
            continue
        area = graph.pool_scale.get(name, 1.0)
        effective = layer.weight / area
        peak = effective.abs().max()
        if peak == 0:
            continue
        threshold = min(max(1.0, math.floor(largest / peak.item())),
                        2 ** (chip.threshold_bits - 1) - 1)
        layer.weight.copy_(torch.round(effective * threshold).clamp(-largest, largest)
                           / threshold * area)
        if layer.bias is not None:
            layer.bias.copy_(torch.round(layer.bias * threshold) / threshold)
    return quantized

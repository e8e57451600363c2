"""Export spiking networks to NIR (the Neuromorphic Intermediate Representation), the file
format that neuromorphic chips' toolchains and other simulators read.

sinabs 3.1.3 exports IAF layers, convolutions, linear layers, its own SumPool2d and
Flatten (`sinabs.to_nir`), but not average pooling, our SumPool2d or dropout, and it leaves
the input shape of convolutions unset (nir.write then fails). `nir_sequential` rewrites a
converted network into that vocabulary without changing what it computes:
  - AvgPool2d(k) becomes sinabs' SumPool2d(k) and the next weight layer's weights are
    divided by k*k (exact for 2x2 pooling: a power of two);
  - our SumPool2d becomes sinabs' SumPool2d; dropout (identity at test time) is dropped.
What NIR keeps and what it cannot say (README, "NIR export"): an `IF` node is threshold
and reset; the reset is subtraction in nir <= 1.0.5 but reset to zero from nir 1.0.6 on;
NIR has no lower bound on the membrane potential (sinabs' import adds one at -threshold:
`import_nir` restores ours) and no "several spikes per step".
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch
import torch.nn as nn

from ..quantize import SumPool2d
from ..spiking import to_spiking


def nir_sequential(spiking_model: nn.Sequential) -> nn.Sequential:
    """A copy of a converted network (`to_spiking(...).spiking_model`) made of layers that
    NIR can express, computing the same spikes."""
    layers, pending_divisor = [], None
    for layer in copy.deepcopy(list(spiking_model)):
        if isinstance(layer, (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.Identity)):
            continue
        if isinstance(layer, nn.AvgPool2d):
            kernel = _pair(layer.kernel_size)
            stride = _pair(layer.stride if layer.stride is not None else layer.kernel_size)
            if _pair(layer.padding) != (0, 0):
                raise ValueError("AvgPool2d with padding has no exact SumPool2d form")
            layers.append(sl.SumPool2d(kernel_size=kernel, stride=stride))
            pending_divisor = (pending_divisor or 1) * kernel[0] * kernel[1]
            continue
        if isinstance(layer, SumPool2d):
            layers.append(sl.SumPool2d(kernel_size=_pair(layer.kernel_size),
                                       stride=_pair(layer.stride)))
            continue
        if isinstance(layer, (nn.Conv2d, nn.Linear)) and pending_divisor:
            with torch.no_grad():
                layer.weight.div_(pending_divisor)
            pending_divisor = None
        elif isinstance(layer, sl.SqueezeMixin) and pending_divisor:
            raise ValueError("average pooling right before a spiking layer cannot be folded "
                             "into weights; NIR has no average pooling")
        layers.append(layer)
    if pending_divisor:
        raise ValueError("average pooling at the end of the network cannot be folded into "
                         "weights; NIR has no average pooling")
    return nn.Sequential(*layers)


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def export_nir(model_or_net, input_shape: Sequence[int], path, min_v_mem=None) -> nir.NIRGraph:
    """Write a spiking network to a NIR file.

    Args:
        model_or_net: an analog model (converted here with `to_spiking`) or a network
            `to_spiking` made.
        input_shape: one sample's shape (C, H, W).
        path: the .nir file (its folder is made).
        min_v_mem: the membrane's lower bound, when converting here.

    Returns:
        The `nir.NIRGraph` written; every node has its input shape (a graph without them
        cannot be written). `import_nir` reads it back with sinabs.
    """
    net = model_or_net
    if not isinstance(net, sinabs.network.Network):
        net = to_spiking(model_or_net, input_shape, min_v_mem=min_v_mem)
    sequential = nir_sequential(net.spiking_model).cpu().eval()
    sample = torch.zeros(1, *input_shape)
    sinabs.utils.reset_states(sequential)
    graph = sinabs.to_nir(sequential, sample)
    _fill_input_shapes(graph, sequential, sample)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), graph)
    return graph


def _fill_input_shapes(graph: nir.NIRGraph, sequential: nn.Sequential, sample: torch.Tensor):
    """Set what sinabs leaves None, from one forward pass: the spatial input shape of
    every convolution node and the input type of flatten and pooling nodes (nodes are
    named by their index in `sequential`)."""
    shapes = {}
    data = sample
    with torch.no_grad():
        for index, layer in enumerate(sequential):
            shapes[str(index)] = np.array(data.shape[1:])
            data = layer(data)
    sinabs.utils.reset_states(sequential)
    for name, node in graph.nodes.items():
        if name not in shapes:
            continue
        if isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = tuple(int(size) for size in shapes[name][1:])  # (H, W)
        elif isinstance(node, (nir.Flatten, nir.SumPool2d)):
            node.input_type = {"input": shapes[name]}
            if isinstance(node, nir.Flatten):
                node.output_type = {"output": np.array([int(np.prod(shapes[name]))])}


class ImportedNetwork(nn.Module):
    """A network read from NIR: (B*T, ...) in, (B*T, outputs) out, like the converted
    network (nirtorch's executor also returns its state, which is dropped here)."""

    def __init__(self, executor: nn.Module):
        super().__init__()
        self.executor = executor

    def forward(self, data):
        output = self.executor(data)
        return output[0] if isinstance(output, tuple) else output


def import_nir(path, batch_size: int = 1, min_v_mem=None) -> ImportedNetwork:
    """A sinabs network from the NIR file `path`, with the lower bound of the membrane
    potential set to `min_v_mem` (None: none) instead of the -threshold sinabs adds."""
    graph = nir.read(str(path))
    net = sinabs.from_nir(graph, batch_size=batch_size)
    for layer in net.modules():
        if isinstance(layer, sl.SqueezeMixin) and hasattr(layer, "min_v_mem"):
            layer.min_v_mem = None if min_v_mem is None else nn.Parameter(
                torch.tensor(float(min_v_mem)), requires_grad=False)
    return ImportedNetwork(net)


def add_export_nir_flag(parser) -> None:
    """--export_nir DIR for a script that tests spiking networks."""
    parser.add_argument("--export_nir", default=None, metavar="DIR",
                        help="also write every tested spiking network as a NIR file into DIR "
                             "(README, 'NIR export')")

"""Export spiking networks to NIR (the Neuromorphic Intermediate Representation), the file
format that neuromorphic chips' toolchains and other simulators read.

sinabs 3.1.3 exports IAF layers, convolutions, linear layers, its own SumPool2d and
Flatten (`sinabs.to_nir`), but not average pooling, our SumPool2d or dropout; it writes
every sum pooling's padding as (0, 0), reads no padding back, reads a grouped convolution
with too few input channels, and leaves the input shape of convolutions unset (nir.write
then fails). `nir_sequential` rewrites a converted network into what NIR can say, without
changing what it computes:
  - every pooling becomes our SumPool2d (kernel, stride, padding: the three numbers of
    NIR's SumPool2d); average pooling's divisor (kernel area or `divisor_override`)
    divides the next weight layer's weights (exact for 2x2 pooling: a power of two);
  - dropout (identity at test time) is dropped; 'same'/'valid' convolution padding
    becomes numbers.
What NIR cannot say is refused by layer, with the change to make: `ceil_mode` where it
adds windows for this input, average pooling with `count_include_pad=False` and padding,
convolution padding other than zeros, uneven 'same' padding, average pooling that no
weight layer follows. `export_nir` and `import_nir` map our SumPool2d and grouped
convolutions themselves and leave every other node to sinabs.
What NIR keeps and what it cannot say about neurons (README, "NIR export"): an `IF` node
is threshold and reset; the reset is subtraction in nir <= 1.0.5 but reset to zero from
nir 1.0.6 on; NIR has no lower bound on the membrane potential (sinabs' import adds one at
-threshold: `import_nir` restores ours) and no spike function: sinabs reads every `IF` as
several spikes per step (MultiSpike), so `export_nir` warns that a single-spike network must
be read back with `import_nir(..., spike_fn="single")`, and refuses a network that mixes
the two (or uses any other), which no file could say.
"""
from __future__ import annotations

import copy
import warnings
from functools import partial
from pathlib import Path
from typing import Sequence

import nir
import nirtorch
import numpy as np
import sinabs
import sinabs.layers as sl
import sinabs.nir
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..quantize import SumPool2d
from ..spiking import SPIKE_FUNCTIONS, to_spiking

POOLING = (nn.AvgPool2d, SumPool2d, sl.SumPool2d)
DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)
# what the rewritten chain may hold: what sinabs.to_nir maps, less what `import_nir`
# cannot read back as this network (Conv1d has no input shape here, LIF/ExpLeak neurons)
EXPORTED = (nn.Conv2d, nn.Linear, nn.Flatten, SumPool2d, sl.IAFSqueeze)


def nir_sequential(spiking_model: nn.Sequential, input_shape: Sequence[int] | None = None
                   ) -> nn.Sequential:
    """A copy of a converted network (`to_spiking(...).spiking_model`) made of layers that
    NIR can express, computing the same spikes; ValueError naming the layer and the
    change to make where NIR cannot say what a layer does.

    Args:
        spiking_model: the chain of layers; left as it is (its state, SynOp hooks and
            batch size included).
        input_shape: one sample's shape (C, H, W); needed only to check that a pooling
            layer's `ceil_mode=True` adds no window (NIR's pooling has no ceil_mode).
    """
    if not isinstance(spiking_model, nn.Sequential):
        raise ValueError(
            f"NIR export: {type(spiking_model).__name__} computes its own forward (residual "
            "additions or branches), which nir_sequential cannot rewrite layer by layer; "
            "export a network whose forward is its layers in order (an nn.Sequential)")
    layers, divisor, divided_by = [], 1, None
    data = None if input_shape is None else torch.zeros(1, *input_shape)
    for index, layer in enumerate(_fresh_layers(spiking_model)):
        name = f"spiking_model[{index}] ({layer!r})"
        layer_input = data
        if data is not None:
            with torch.no_grad():
                data = layer(data)
        if isinstance(layer, DROPPED):
            continue
        if isinstance(layer, POOLING):
            pooling, pooling_divisor = _as_sum_pooling(name, layer, layer_input)
            layers.append(pooling)
            if pooling_divisor != 1:
                divisor, divided_by = divisor * pooling_divisor, name
            continue
        if isinstance(layer, nn.Conv2d):
            layer = _with_numeric_padding(name, layer)
        if isinstance(layer, (nn.Conv2d, nn.Linear)) and divisor != 1:
            with torch.no_grad():
                layer.weight.div_(divisor)
            divisor = 1
        elif isinstance(layer, sl.SqueezeMixin) and divisor != 1:
            raise ValueError(f"NIR export: {divided_by}: average pooling right before a "
                             "spiking layer cannot be folded into weights, and sinabs reads "
                             "no NIR average pooling; use sum pooling (our SumPool2d)")
        if type(layer) not in EXPORTED:
            raise ValueError(
                f"NIR export: {name}: no NIR form here; export_nir writes "
                f"{', '.join(kind.__name__ for kind in EXPORTED)}, pooling and dropout")
        layers.append(layer)
    if divisor != 1:
        raise ValueError(f"NIR export: {divided_by}: average pooling at the end of the network "
                         "cannot be folded into weights, and sinabs reads no NIR average "
                         "pooling; end the network with a weight or spiking layer")
    return nn.Sequential(*layers)


def _fresh_layers(spiking_model: nn.Sequential) -> list:
    """Copies of the layers without what running them left behind: sinabs' state sized
    by the last batch (or by `to_spiking(batch_size=...)`), which a one-sample trace cannot
    be reshaped into (nirtorch's tracer then reports only 'Cannot find the input of an
    empty graph'); the SynOp hooks and their data (tensors of a run with gradients, which
    cannot be deep-copied). On the CPU; the spiking layers take one sample, any number of
    steps."""
    memo = {}
    for module in spiking_model.modules():
        if isinstance(module, sl.StatefulLayer):
            for buffer in module.buffers(recurse=False):
                memo[id(buffer)] = torch.zeros(0)  # uninitialised: sized by the next input
        if isinstance(getattr(module, "hook_data", None), dict):
            memo[id(module.hook_data)] = {}
    layers = [layer.cpu() for layer in copy.deepcopy(list(spiking_model), memo)]
    for layer in layers:
        for module in layer.modules():
            module._forward_hooks.clear()
            module._forward_pre_hooks.clear()
            if isinstance(module, sl.SqueezeMixin):
                module.batch_size, module.num_timesteps = 1, -1
    return layers


def _as_sum_pooling(name: str, layer: nn.Module, layer_input: torch.Tensor | None) -> tuple:
    """(our SumPool2d over the same windows, the divisor that average pooling applies to
    their sums and the next weights take over)."""
    kernel = _pair(layer.kernel_size)
    stride = _pair(layer.stride if layer.stride is not None else layer.kernel_size)
    padding = _pair(getattr(layer, "padding", 0))  # sinabs' SumPool2d has none
    divisor = 1
    if isinstance(layer, nn.AvgPool2d):
        if padding != (0, 0) and not layer.count_include_pad:
            raise ValueError(
                f"NIR export: {name}: count_include_pad=False divides the border windows by "
                "fewer inputs than the others, which no sum pooling and weight can say; use "
                "count_include_pad=True (the default) or padding=0")
        divisor = layer.divisor_override or kernel[0] * kernel[1]
    if layer.ceil_mode:
        _check_ceil_mode_adds_nothing(name, layer, layer_input, kernel, stride, padding)
    return SumPool2d(kernel, stride, padding), divisor


def _check_ceil_mode_adds_nothing(name, layer, layer_input, kernel, stride, padding):
    """NIR's SumPool2d has kernel_size, stride and padding but no ceil_mode: a layer with
    ceil_mode=True is exported only where, for this input, it makes no window more."""
    if layer_input is None:
        raise ValueError(f"NIR export: {name}: ceil_mode=True has no NIR form unless it adds "
                         "no window; pass input_shape to check that, or use ceil_mode=False")
    with torch.no_grad():
        with_ceil = tuple(layer(layer_input).shape[2:])
        without = tuple(F.avg_pool2d(layer_input, kernel, stride, padding).shape[2:])
    if with_ceil != without:
        height, width = layer_input.shape[2:]
        raise ValueError(
            f"NIR export: {name}: ceil_mode=True makes a {with_ceil} output of the "
            f"{height}x{width} input where the windows that fit make {without}, and NIR's "
            "SumPool2d (kernel_size, stride, padding) has no ceil_mode; use "
            "ceil_mode=False, or a size, padding and stride for which the windows fit "
            "(H + 2*padding - kernel a multiple of the stride)")


def _with_numeric_padding(name: str, conv: nn.Conv2d) -> nn.Conv2d:
    """The convolution with its padding as numbers, as NIR's Conv2d is read (sinabs hands a
    'same' read from a file to torch as bytes), refusing padding NIR cannot say: only
    zeros, the same on both sides."""
    if isinstance(conv.padding, str):
        total = [dilation * (kernel - 1) for dilation, kernel in
                 zip(conv.dilation, conv.kernel_size, strict=True)]
        if conv.padding == "same" and any(size % 2 for size in total):
            raise ValueError(
                f"NIR export: {name}: padding='same' with kernel {conv.kernel_size} and "
                f"dilation {conv.dilation} pads one more row or column at the bottom or "
                "right than at the top or left, and NIR's padding is the same on both "
                "sides; use an odd kernel size or explicit padding")
        conv.padding = tuple(size // 2 for size in total) if conv.padding == "same" else (0, 0)
    if conv.padding_mode != "zeros" and any(conv.padding):
        raise ValueError(
            f"NIR export: {name}: padding_mode={conv.padding_mode!r} has no NIR form (NIR "
            "pads with zeros); use padding_mode='zeros' or padding=0")
    return conv


def _pair(value) -> tuple:
    """(height, width) of a size given as one number or two (a file's are arrays)."""
    sizes = tuple(int(size) for size in np.atleast_1d(np.asarray(value)).ravel())
    return sizes * 2 if len(sizes) == 1 else sizes


def export_nir(model_or_net, input_shape: Sequence[int], path, min_v_mem=None) -> nir.NIRGraph:
    """Write a spiking network to a NIR file.

    Exported from a copy (`nir_sequential`): the network passed in is left as it is,
    whatever ran on it before (its state and batch size included).

    Args:
        model_or_net: an analog model (converted here with `to_spiking`) or a network
            `to_spiking` made.
        input_shape: one sample's shape (C, H, W).
        path: the .nir file (its folder is made).
        min_v_mem: the membrane's lower bound, when converting here.

    Returns:
        The `nir.NIRGraph` written; every node has its input shape (a graph without them
        cannot be written). `import_nir` reads it back with sinabs.

    Raises:
        ValueError: a layer NIR cannot say, by name, with the change to make; spiking
            layers with different spike functions (or one `to_spiking` does not make).

    Warns:
        UserWarning: the spiking layers spike at most once per step, which the file does
            not record: read it back with `import_nir(..., spike_fn="single")`.
    """
    net = model_or_net
    if not isinstance(net, sinabs.network.Network):
        net = to_spiking(model_or_net, input_shape, min_v_mem=min_v_mem)
    sequential = nir_sequential(net.spiking_model, input_shape).cpu().eval()
    if _spike_function(net.spiking_model) == "single":
        warnings.warn(
            "export_nir: the spiking layers spike at most once per step (spike_fn='single'), "
            "which a NIR file does not record (NIR's IF node has no spike function, and sinabs "
            "reads it as several spikes per step): read it back with "
            "import_nir(path, ..., spike_fn='single')", UserWarning, stacklevel=2)
    sample = torch.zeros(1, *input_shape)
    sinabs.utils.reset_states(sequential)
    # sinabs.to_nir, with our SumPool2d (and its padding) mapped here
    graph = nirtorch.extract_nir_graph(sequential, _nir_node, sample, model_name="model",
                                       ignore_dims=[0])
    _fill_input_shapes(graph, sequential, sample)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), graph)
    return graph


def _spike_function(spiking_model: nn.Sequential) -> str | None:
    """The `to_spiking` spike_fn ("multi" or "single") of every spiking layer, which
    `import_nir(..., spike_fn=...)` must be given back, since NIR's IF node has none; None
    without spiking layers. ValueError, naming the layer, where the layers differ or one
    has another spike function: `import_nir` gives all of them one of those two."""
    found = {}
    for index, layer in enumerate(spiking_model):
        if not isinstance(layer, sl.SqueezeMixin):
            continue
        where = f"spiking_model[{index}] ({type(layer).__name__})"
        kind = next((name for name, function in SPIKE_FUNCTIONS.items()
                     if getattr(layer, "spike_fn", None) is function), None)  # may be unhashable
        if kind is None:
            raise ValueError(
                f"NIR export: {where}: spike function {layer.spike_fn!r}, which a NIR file does "
                "not record and import_nir cannot give back (it makes 'multi' or 'single' "
                "layers); convert with to_spiking(..., spike_fn='multi' or 'single')")
        found.setdefault(kind, where)
    if len(found) > 1:
        raise ValueError(
            f"NIR export: {found['single']} spikes at most once per step (spike_fn='single') "
            f"but {found['multi']} several (spike_fn='multi'): a NIR file records no spike "
            "function, and import_nir gives every spiking layer the same one; convert the "
            "network with one spike_fn for all its layers")
    return next(iter(found), None)


def _nir_node(module: nn.Module) -> nir.NIRNode:
    """The NIR node of a layer: sinabs' (`sinabs.nir._extract_sinabs_module`, what
    `sinabs.to_nir` uses), except our SumPool2d, whose padding sinabs would not write."""
    if isinstance(module, SumPool2d):
        return nir.SumPool2d(kernel_size=np.array(_pair(module.kernel_size)),
                             stride=np.array(_pair(module.stride)),
                             padding=np.array(_pair(module.padding)))
    return sinabs.nir._extract_sinabs_module(module)


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


def import_nir(path, batch_size: int = 1, min_v_mem=None,
               spike_fn: str = "multi") -> ImportedNetwork:
    """A sinabs network from the NIR file `path`, with the lower bound of the membrane
    potential set to `min_v_mem` (None: none) instead of the -threshold sinabs adds, and
    every spiking layer's `spike_fn` ("multi": several spikes per step, "single": at most
    one, as `to_spiking`'s): NIR's IF node records neither, so pass what the exported
    network had (`export_nir` warns when that is "single").

    `sinabs.from_nir`, except for the nodes sinabs 3.1.3 reads as another network
    (`_torch_module`): sum pooling with padding, grouped convolutions."""
    if spike_fn not in SPIKE_FUNCTIONS:
        raise ValueError(f"import_nir: spike_fn must be one of {sorted(SPIKE_FUNCTIONS)}, "
                         f"got {spike_fn!r}")
    graph = nir.read(str(path))
    net = nirtorch.load(graph, partial(_torch_module, batch_size=batch_size))
    for layer in net.modules():
        if isinstance(layer, sl.SqueezeMixin) and hasattr(layer, "min_v_mem"):
            layer.min_v_mem = None if min_v_mem is None else nn.Parameter(
                torch.tensor(float(min_v_mem)), requires_grad=False)
        if isinstance(layer, sl.SqueezeMixin) and hasattr(layer, "spike_fn"):
            layer.spike_fn = SPIKE_FUNCTIONS[spike_fn]
    return ImportedNetwork(net)


def _torch_module(node: nir.NIRNode, batch_size: int) -> nn.Module | None:
    """The layer of a NIR node: sinabs' (`sinabs.nir._import_sinabs_module`, what
    `sinabs.from_nir` uses), except a SumPool2d (sinabs drops its padding) and a Conv2d
    (sinabs gives a grouped one weight.shape[1] input channels, not that times groups)."""
    if isinstance(node, nir.SumPool2d):
        return SumPool2d(_pair(node.kernel_size), _pair(node.stride), _pair(node.padding))
    if isinstance(node, nir.Conv2d):
        weight = torch.as_tensor(np.asarray(node.weight)).float()
        groups, padding = int(node.groups), node.padding
        padding = padding.decode() if isinstance(padding, bytes) else padding  # 'same'
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                         stride=_pair(node.stride),
                         padding=padding if isinstance(padding, str) else _pair(padding),
                         dilation=_pair(node.dilation), groups=groups)
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(torch.as_tensor(np.asarray(node.bias)).float())
        return conv
    return sinabs.nir._import_sinabs_module(node, batch_size=batch_size, num_timesteps=None)


def add_export_nir_flag(parser) -> None:
    """--export_nir DIR for a script that tests spiking networks."""
    parser.add_argument("--export_nir", default=None, metavar="DIR",
                        help="also write every tested spiking network as a NIR file into DIR "
                             "(README, 'NIR export')")

"""A converted network, compiled for the fast simulator: the layers before the first
spiking layer (the prefix, run by torch), the stages between spiking layers (one
structured array the CPU engine reads by field name, and flat weight, bias and
connection-map arrays), and the layers after the last one (the suffix, run by torch).
`compile_network` refuses what the simulator does not cover, naming the layer.

Also the per-frame counts that torch makes for both simulators (`count_layer`: sinabs'
SynOps; `neurobench_frames`: NeuroBench's), so that the prefix, the suffix, the CUDA
engine and the sinabs hooks count with one formula each."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import numpy as np
import sinabs.activation
import sinabs.hooks
import sinabs.layers
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...quantize import SumPool2d

# One stage: [pooling] -> weight layer -> spiking layer. The CPU engine reads these
# fields by name (its compiled code is specialised to this dtype).
STAGE_DTYPE = np.dtype([
    ("in_c", np.int64), ("in_h", np.int64), ("in_w", np.int64),  # the previous spiking layer
    ("pool", np.bool_), ("pool_average", np.bool_),  # pooling, and whether it averages
    ("pool_kh", np.int64), ("pool_kw", np.int64), ("pool_sh", np.int64), ("pool_sw", np.int64),
    ("pool_ph", np.int64), ("pool_pw", np.int64),
    ("pooled_h", np.int64), ("pooled_w", np.int64),  # the weight layer's input
    ("linear", np.bool_),  # a Linear layer (else a Conv2d)
    ("out_c", np.int64), ("out_h", np.int64), ("out_w", np.int64),  # this spiking layer
    ("kh", np.int64), ("kw", np.int64), ("sh", np.int64), ("sw", np.int64),
    ("ph", np.int64), ("pw", np.int64), ("dh", np.int64), ("dw", np.int64), ("groups", np.int64),
    ("weight_offset", np.int64), ("bias_offset", np.int64), ("cmap_offset", np.int64),
    ("single", np.bool_), ("has_min", np.bool_), ("min_v_mem", np.float32),
    ("dense", np.bool_),  # every neuron updated every step (see `_pack_stage`)
    ("pool_scale", np.float64),  # SynOps factor: the average pooling's area, as sinabs
], align=True)
_AVG_POOL, _SUM_POOL = 1, 2  # `_pool_params`' kinds


class UnsupportedNetwork(ValueError):
    """The network is not a chain the fast simulator covers; the message says which layer."""


@dataclass
class _Stage:
    """One stage as built from the layer list (before it is packed into arrays)."""
    in_shape: tuple                      # (C, H, W) of the previous spiking layer
    pool: nn.Module | None = None
    flatten: bool = False
    weight: nn.Module | None = None
    spiking: nn.Module | None = None
    pooled_shape: tuple = ()
    out_shape: tuple = ()


@dataclass
class SimulationPlan:
    """A converted network, compiled for `simulate`: the layers before the first spiking
    layer (`prefix`, run by torch), the stages between spiking layers (packed into
    arrays for the CPU engine), and the layers after the last one (`suffix`, run by
    torch on the output spikes). `weight_layers`: the sinabs Sequential indices of the
    weight layers, in order, as sinabs' hook data names them."""
    prefix: nn.Sequential
    suffix: nn.Sequential
    stages: List[_Stage]
    shapes: List[tuple]                  # neurons of every spiking layer, (C, H, W)
    layer_shapes: List[tuple]            # the same as the network has them: (C, H, W) or (N,)
    weight_layers: List[int]
    prefix_weight_layers: List[int]      # those inside the prefix (counted by torch)
    suffix_weight_layers: List[int]
    stage_array: np.ndarray = field(repr=False, default=None)  # one STAGE_DTYPE row per stage
    weights: np.ndarray = field(repr=False, default=None)
    biases: np.ndarray = field(repr=False, default=None)
    cmaps: np.ndarray = field(repr=False, default=None)
    # NeuroBench's counts: each input's connections through non-zero weights (laid out
    # as `cmaps`), and every connection of each stage's weight layer in one step
    nonzero_cmaps: np.ndarray = field(repr=False, default=None)
    dense_per_step: np.ndarray = field(repr=False, default=None)  # per stage (0: none)
    input_shape: tuple = ()


def is_spiking(layer) -> bool:
    return isinstance(layer, sinabs.layers.SqueezeMixin) and hasattr(layer, "v_mem")


def spiking_params(layer):
    if not isinstance(layer, sinabs.layers.IAFSqueeze):
        raise UnsupportedNetwork(f"{type(layer).__name__}: the fast simulator runs "
                                 "integrate-and-fire layers (sinabs.layers.IAFSqueeze) only")
    threshold = float(layer.spike_threshold)
    if threshold != 1.0:
        raise UnsupportedNetwork(f"{layer}: spike threshold {threshold:g}; the fast simulator "
                                 "assumes 1, as to_spiking converts")
    if not isinstance(layer.reset_fn, sinabs.activation.MembraneSubtract) or \
            layer.reset_fn.subtract_value not in (None, 1.0):
        raise UnsupportedNetwork(f"{layer}: reset {layer.reset_fn}; the fast simulator "
                                 "resets by subtracting the threshold")
    if layer.tau_syn is not None:
        raise UnsupportedNetwork(f"{layer}: synaptic time constants are not simulated")
    if layer.spike_fn is sinabs.activation.MultiSpike:
        single = False
    elif layer.spike_fn is sinabs.activation.SingleSpike:
        single = True
    else:
        raise UnsupportedNetwork(f"{layer}: spike function {layer.spike_fn}; the fast "
                                 "simulator knows MultiSpike and SingleSpike")
    bound = layer.min_v_mem
    bound = None if bound is None else float(bound)
    return single, bound


def _pool_params(layer):
    """(kind, kernel, stride, padding) of a pooling layer, or None if not one."""
    if isinstance(layer, nn.AvgPool2d):
        if layer.ceil_mode or layer.divisor_override is not None:
            raise UnsupportedNetwork(f"{layer}: ceil_mode and divisor_override are not "
                                     "simulated")
        if pair(layer.padding) != (0, 0):
            raise UnsupportedNetwork(f"{layer}: average pooling with padding is not simulated")
        return _AVG_POOL, pair(layer.kernel_size), pair(layer.stride or layer.kernel_size), (0, 0)
    if isinstance(layer, SumPool2d):
        if layer.ceil_mode:
            raise UnsupportedNetwork(f"{layer}: ceil_mode is not simulated")
        return _SUM_POOL, pair(layer.kernel_size), pair(layer.stride), pair(layer.padding)
    if isinstance(layer, sinabs.layers.SumPool2d):
        if layer.ceil_mode or float(layer.norm_type) != 1.0:
            raise UnsupportedNetwork(f"{layer}: only p=1 sum pooling without ceil_mode")
        stride = layer.stride if layer.stride is not None else layer.kernel_size
        return _SUM_POOL, pair(layer.kernel_size), pair(stride), (0, 0)
    return None


def pair(value) -> tuple:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * 2


IGNORED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


def compile_network(net, input_shape: Sequence[int]) -> SimulationPlan:
    """The `SimulationPlan` of a converted network, for one sample of `input_shape`.

    Args:
        net: a network from `to_spiking` (its `spiking_model`, an nn.Sequential) or the
            Sequential itself.
        input_shape: one sample's shape, (C, H, W) or (N,).

    Returns:
        The plan `cpu.simulate` runs.

    Raises:
        UnsupportedNetwork: naming the layer the fast simulator does not cover (use
            sinabs there).
    """
    model = net.spiking_model if hasattr(net, "spiking_model") else net
    if not isinstance(model, nn.Sequential):
        raise UnsupportedNetwork(
            f"{type(model).__name__}: the fast simulator runs chains of layers (an "
            "nn.Sequential, as to_spiking builds for the package's networks); for other "
            "graphs (residual additions, branches) use --simulator sinabs")
    layers = list(model)
    spiking_positions = [i for i, layer in enumerate(layers) if is_spiking(layer)]
    if not spiking_positions:
        raise UnsupportedNetwork("the network has no spiking layer")
    first, last = spiking_positions[0], spiking_positions[-1]
    weight_layers = [i for i, layer in enumerate(layers)
                     if isinstance(layer, (nn.Conv2d, nn.Linear))]
    for index, layer in enumerate(layers):
        if not (is_spiking(layer) or isinstance(layer, (nn.Conv2d, nn.Linear, nn.Flatten))
                or _pool_params(layer) is not None or isinstance(layer, IGNORED)):
            raise UnsupportedNetwork(f"layer {index} ({type(layer).__name__}) is not simulated: "
                                     "supported are integrate-and-fire, Conv2d, Linear, average "
                                     "and sum pooling, Flatten and dropout")
        # sinabs turns a NaN into NaN results (refused as a result); the kernel's
        # comparisons would turn it into silence and plausible numbers
        for kind, tensor in (("weights", getattr(layer, "weight", None)),
                             ("biases", getattr(layer, "bias", None))):
            if isinstance(tensor, torch.Tensor) and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"layer {index} ({layer}): NaN or infinite {kind} (a diverged "
                                 "or damaged model); train or load it again")
    shapes = _boundary_shapes(layers, input_shape, device_of(model))
    stages, neuron_shapes, layer_shapes = [], [], []
    for number, position in enumerate(spiking_positions):
        shape = _chw(shapes[position])
        neuron_shapes.append(shape)
        layer_shapes.append(shapes[position])
        if number == 0:
            stages.append(_Stage(in_shape=(), spiking=layers[position], out_shape=shape))
        else:
            stages.append(_stage_between(layers, shapes, spiking_positions[number - 1],
                                         position, neuron_shapes[number - 1]))
    plan = SimulationPlan(
        prefix=nn.Sequential(*[layer for layer in layers[:first]
                               if not isinstance(layer, IGNORED)]),
        suffix=nn.Sequential(*[layer for layer in layers[last + 1:]
                               if not isinstance(layer, IGNORED)]),
        stages=stages, shapes=neuron_shapes, layer_shapes=layer_shapes,
        weight_layers=weight_layers,
        prefix_weight_layers=[i for i in weight_layers if i < first],
        suffix_weight_layers=[i for i in weight_layers if i > last],
        input_shape=tuple(input_shape))
    _pack(plan)
    return plan


def _boundary_shapes(layers, input_shape, device) -> List[tuple]:
    """The activation shape before every layer and after the last, from one probe
    through the analog layers."""
    shapes = []
    data = torch.zeros(1, *input_shape, device=device)
    with torch.no_grad():
        for layer in layers:
            shapes.append(tuple(data.shape[1:]))
            if not is_spiking(layer):
                data = layer(data)
    shapes.append(tuple(data.shape[1:]))
    return shapes


def _stage_between(layers, shapes, previous: int, position: int, in_shape: tuple) -> _Stage:
    """The stage from the spiking layer at `previous` to the one at `position`: at most
    one pooling layer, then an optional flatten, then one weight layer."""
    stage = _Stage(in_shape=in_shape, spiking=layers[position], out_shape=_chw(shapes[position]))
    for index in range(previous + 1, position):
        layer = layers[index]
        if isinstance(layer, IGNORED):
            continue
        if _pool_params(layer) is not None:
            if stage.pool is not None or stage.weight is not None or stage.flatten:
                raise UnsupportedNetwork(
                    f"layer {index} ({type(layer).__name__}): one pooling layer per stage, "
                    "before flatten and the weight layer")
            stage.pool = layer
        elif isinstance(layer, nn.Flatten):
            if stage.weight is not None:
                raise UnsupportedNetwork(f"layer {index}: flatten after a weight layer")
            stage.flatten = True
        else:
            if stage.weight is not None:
                raise UnsupportedNetwork(
                    f"layer {index} ({type(layer).__name__}): two weight layers without a "
                    "spiking layer between them")
            if isinstance(layer, nn.Linear) and len(shapes[index]) != 1:
                # torch's Linear acts on the last axis of a (C, H, W) input; the engine
                # reads a Linear layer's input as flat neurons (it would mix the axes)
                raise UnsupportedNetwork(
                    f"layer {index} ({layer}): a Linear layer on a {shapes[index]} input acts "
                    "on its last axis, which the fast simulator does not run; put "
                    "nn.Flatten() before it, or use --simulator sinabs")
            stage.weight = layer
            stage.pooled_shape = _chw(shapes[index])
    if stage.weight is None:
        raise UnsupportedNetwork(f"no weight layer between spiking layers {previous} and "
                                 f"{position}")
    if isinstance(stage.weight, nn.Conv2d) and (stage.flatten or len(shapes[position]) != 3):
        raise UnsupportedNetwork(f"layer {position}: a convolution after flatten")
    return stage


def device_of(model) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _chw(shape: tuple) -> tuple:
    """(C, H, W) of an activation shape; a 1-D layer of N neurons is (N, 1, 1)."""
    if len(shape) == 3:
        return tuple(int(s) for s in shape)
    if len(shape) == 1:
        return (int(shape[0]), 1, 1)
    raise UnsupportedNetwork(f"activation shape {shape}: only (C, H, W) and (N,) are simulated")


def _pack(plan: SimulationPlan) -> None:
    """The stages as the arrays the CPU engine reads: one STAGE_DTYPE row per stage, and
    the weights (channel-last), biases and connection maps of all stages, concatenated."""
    stages = np.zeros(len(plan.stages), dtype=STAGE_DTYPE)
    weights, biases, cmaps, nonzero_cmaps = [], [], [], []
    plan.dense_per_step = np.zeros(len(plan.stages), np.float64)
    for number, stage in enumerate(plan.stages):
        row = stages[number]
        single, bound = spiking_params(stage.spiking)
        row["out_c"], row["out_h"], row["out_w"] = stage.out_shape
        row["single"], row["has_min"] = single, bound is not None
        row["min_v_mem"] = 0.0 if bound is None else bound
        row["pool_scale"] = 1.0
        if number == 0:
            # dense when its input is (prefix biases), bounded or single
            prefix_bias = any(getattr(layer, "bias", None) is not None for layer in plan.prefix)
            row["dense"] = prefix_bias or bound is not None or single
            continue
        pooled = _pack_pooling(row, stage)
        layer = stage.weight
        packed, cmap = _pack_conv(row, layer, pooled, stage.out_shape) \
            if isinstance(layer, nn.Conv2d) else _pack_linear(row, layer, pooled)
        row["weight_offset"] = sum(len(array) for array in weights)
        row["cmap_offset"] = sum(len(array) for array in cmaps)
        weights.append(packed.numpy())
        cmaps.append(cmap.double().numpy())
        nonzero_cmaps.append(_channel_last_map(layer, pooled, layer.weight != 0))
        plan.dense_per_step[number] = _channel_last_map(
            layer, pooled, torch.ones_like(layer.weight)).sum()
        if layer.bias is not None:
            row["bias_offset"] = sum(len(array) for array in biases)
            biases.append(layer.bias.detach().float().cpu().numpy())
        else:
            row["bias_offset"] = -1
        # a neuron can change without input: a bias, a lower bound (sinabs rounds
        # relu(v - bound) + bound every step) or a single spike that leaves v >= 1
        row["dense"] = layer.bias is not None or bound is not None or single
    plan.stage_array = stages
    plan.weights = np.concatenate(weights) if weights else np.zeros(1, np.float32)
    plan.biases = np.concatenate(biases) if biases else np.zeros(1, np.float32)
    plan.cmaps = np.concatenate(cmaps) if cmaps else np.zeros(1, np.float64)
    plan.nonzero_cmaps = np.concatenate(nonzero_cmaps) if nonzero_cmaps else \
        np.zeros(1, np.float64)


def _channel_last_map(layer: nn.Module, pooled: tuple, weight: torch.Tensor) -> np.ndarray:
    """`connection_map` of a stage's weight layer on its (C, H, W) input, laid out as the
    engine's events (channel-last), in float64."""
    shape = pooled if isinstance(layer, nn.Conv2d) else (int(np.prod(pooled)),)
    connections = connection_map(layer, shape, weight.detach().cpu()).reshape(pooled)
    return connections.permute(1, 2, 0).reshape(-1).double().numpy()


def _pack_pooling(row, stage: _Stage) -> tuple:
    """The pooling fields of a stage's row; the pooled shape (C, H, W)."""
    row["in_c"], row["in_h"], row["in_w"] = stage.in_shape
    row["pool_kh"] = row["pool_kw"] = row["pool_sh"] = row["pool_sw"] = 1  # none: 1x1
    pooled = stage.in_shape
    if stage.pool is not None:
        kind, kernel, stride, padding = _pool_params(stage.pool)
        row["pool"], row["pool_average"] = True, kind == _AVG_POOL
        row["pool_kh"], row["pool_kw"] = kernel
        row["pool_sh"], row["pool_sw"] = stride
        row["pool_ph"], row["pool_pw"] = padding
        channels, height, width = stage.in_shape
        pooled = (channels, (height + 2 * padding[0] - kernel[0]) // stride[0] + 1,
                  (width + 2 * padding[1] - kernel[1]) // stride[1] + 1)
        if isinstance(stage.pool, nn.AvgPool2d):  # as sinabs' ModelSynopsHook scales
            row["pool_scale"] = kernel[0] * kernel[1]
    row["pooled_h"], row["pooled_w"] = pooled[1], pooled[2]
    return pooled


def _pack_conv(row, layer: nn.Conv2d, pooled: tuple, out_shape: tuple):
    """A convolution's fields; (its weights as the kernel scatters them, its connection
    map channel-last)."""
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise UnsupportedNetwork(f"{layer}: only numeric zero padding is simulated")
    row["kh"], row["kw"] = layer.kernel_size
    row["sh"], row["sw"] = layer.stride
    row["ph"], row["pw"] = layer.padding
    row["dh"], row["dw"] = layer.dilation
    row["groups"] = layer.groups
    # (out, in/groups, kh, kw) -> (in, kh, kw reversed, out/groups): the out channels of
    # one input neuron and kernel offset are contiguous, and so are those of a kernel
    # row, in the order of the output columns it reaches
    weight = layer.weight.detach().float().cpu()
    out_channels, group_in = weight.shape[:2]
    per_group = out_channels // layer.groups
    packed = weight.flip(3).reshape(layer.groups, per_group, group_in, *layer.kernel_size) \
        .permute(0, 2, 3, 4, 1).reshape(-1)
    connection = sinabs.hooks.conv_connection_map(
        layer, torch.Size(pooled), torch.Size(out_shape), "cpu")[0]
    return packed, connection.permute(1, 2, 0).reshape(-1)  # channel-last, as the events


def _pack_linear(row, layer: nn.Linear, pooled: tuple):
    """A Linear layer's fields; (its weights (in, out), every input's out_features)."""
    row["linear"] = True
    row["groups"] = row["sh"] = row["sw"] = row["dh"] = row["dw"] = 1
    weight = layer.weight.detach().float().cpu()
    if weight.shape[1] != int(np.prod(pooled)):
        raise UnsupportedNetwork(f"{layer}: {weight.shape[1]} inputs for "
                                 f"{int(np.prod(pooled))} neurons")
    return weight.t().contiguous().reshape(-1), \
        torch.full((int(np.prod(pooled)),), float(layer.out_features))


def count_layer(layer: nn.Module, data: torch.Tensor, scale: float) -> torch.Tensor:
    """SynOps per frame of a weight layer on `data` (frames, ...), as sinabs' hook: input
    times connection map (Linear: out_features), times the preceding pooling's area."""
    if isinstance(layer, nn.Conv2d):
        connection = sinabs.hooks.conv_connection_map(
            layer, data.shape[1:], layer(data[:1]).shape[1:], data.device)
        per_frame = (data.double() * connection.double()).flatten(1).sum(1)
    else:
        per_frame = data.double().flatten(1).sum(1) * layer.out_features
    return per_frame * scale


def connection_map(layer: nn.Module, frame_shape, weight: torch.Tensor) -> torch.Tensor:
    """Each input of one frame: its connections through the non-zero entries of `weight`
    (the layer's own geometry: stride, padding, dilation, groups). The layer is linear,
    so this is the gradient of its summed output on a frame of ones, and sum(input != 0
    times it) is NeuroBench's binarised run summed."""
    ones = torch.ones((1, *frame_shape), device=weight.device, requires_grad=True)
    weight = weight.to(torch.float32)
    with torch.enable_grad():
        output = F.linear(ones, weight) if isinstance(layer, nn.Linear) else \
            layer._conv_forward(ones, weight, None)
        (connections,) = torch.autograd.grad(output.sum(), ones)
    return connections[0]


def neurobench_frames(layer: nn.Module, frames: torch.Tensor):
    """NeuroBench's counts of a weight layer per frame of its input `frames` (frames,
    ...): (effective operations: each non-zero input times its connections through
    non-zero weights; dense: every connection; whether every input is 0 or +-1), float64,
    float64, bool. See `neurobench_metrics` for the rules."""
    binary = ((frames == 0) | (frames == 1) | (frames == -1)).flatten(1).all(1)
    nonzero_map = connection_map(layer, frames.shape[1:], layer.weight.detach() != 0)
    effective = torch.where(frames != 0, nonzero_map, 0).flatten(1).sum(1, dtype=torch.float64)
    dense = connection_map(layer, frames.shape[1:], torch.ones_like(layer.weight.detach()))
    return effective, dense.sum(dtype=torch.float64).expand(len(frames)), binary


def run_counted(layers: nn.Sequential, data: torch.Tensor, neurobench: bool = False):
    """`layers` on `data` (frames, ...): the output, the SynOps per frame of each weight
    layer, and with `neurobench` NeuroBench's counts per frame of each (`neurobench_frames`;
    else an empty list)."""
    counts, neurobench_counts, scale = [], [], 1.0
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.AvgPool2d):
                kernel = pair(layer.kernel_size)
                scale *= kernel[0] * kernel[1]
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                counts.append(count_layer(layer, data, scale))
                if neurobench:
                    neurobench_counts.append(neurobench_frames(layer, data))
                scale = 1.0
            data = layer(data)
    return data, counts, neurobench_counts

"""An exact, fast simulator of the spiking networks that `spiking.to_spiking` builds.

sinabs steps every layer of every time step densely, in Python. The converted networks
are integrate-and-fire chains whose spike trains are 1-2% dense, so most of that work
adds zeros. This module runs the same networks with the same arithmetic:

- integrate-and-fire, threshold 1, reset by subtraction; several spikes per step
  (sinabs' MultiSpike: trunc(v) spikes where v > 0) or one (SingleSpike: v >= 1);
  `min_v_mem` None or a bound, applied as sinabs does, relu(v - bound) + bound;
- biases added at every step (already divided by `bias_rescaling` in the network);
- average pooling, sum pooling (ours and sinabs'), dropout (identity), flatten,
  Conv2d (stride, padding, dilation, groups) and Linear between the spiking layers;
- SynOps per weight layer counted the way `sinabs.hooks` counts them: each input value
  times its connection map (`sinabs.hooks.conv_connection_map`; a Linear layer's
  out_features), times the kernel area of an average pooling right before the layer.

Two engines, one contract (`simulate`): on the CPU an event-driven one (numba): every
step, only the neurons that receive input are updated and only the spikes travel
(work ~ SynOps, not ~ dense MACs); on CUDA a time-parallel one: each weight layer runs
once over all steps (the same torch operation sinabs runs), and each spiking layer is
one scan kernel over time (Triton) instead of a Python loop over steps.

Exactness. Each neuron follows sinabs' float32 operations in sinabs' order (v + I, the
spike count, v - spikes, the bound). The currents I are sums of weight x input: the CPU
engine adds a neuron's terms of one step in its own order (input neurons in the order
they spiked, kernel offsets, then the bias), oneDNN's convolution in sinabs in its own.
With up to two non-zero terms the float32 sums are identical (addition commutes); with
three or more they can differ in the last bit, and a membrane that lands within that
bit of a threshold can then spike in one simulator and not in the other. A membrane
that is exactly at the threshold (v == 1.0 exactly) spikes in both (sinabs: v > 0 and
trunc(1.0) == 1; v - 1 >= 0). `tests/test_simulator.py` checks spike-for-spike identity
on every network kind, and the tie case; `benchmarks/spiking_throughput.py` counts the
differences on whole test sets. The CUDA engine runs sinabs' own convolutions, so its
currents are sinabs' bit for bit.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, List, Sequence

import numpy as np
import sinabs.activation
import sinabs.hooks
import sinabs.layers
import torch
import torch.nn as nn

from .quantize import SumPool2d

SIMULATORS = ("sinabs", "fast")
DEFAULT_SIMULATOR = "sinabs"  # the paper's simulator

# spec columns of one stage (a stage: [pooling] -> weight layer -> spiking layer)
_IN_C, _IN_H, _IN_W = 0, 1, 2
_POOL, _PKH, _PKW, _PSH, _PSW, _PPH, _PPW, _POOL_H, _POOL_W = 3, 4, 5, 6, 7, 8, 9, 10, 11
_WEIGHT, _OUT_C, _OUT_H, _OUT_W = 12, 13, 14, 15
_KH, _KW, _SH, _SW, _PH, _PW, _DH, _DW, _GROUPS = 16, 17, 18, 19, 20, 21, 22, 23, 24
_W_OFF, _B_OFF, _CMAP_OFF = 25, 26, 27
_SINGLE, _DENSE, _HAS_MIN = 28, 29, 30
_SPEC_COLUMNS = 31
_NO_POOL, _AVG_POOL, _SUM_POOL = 0, 1, 2
_NO_WEIGHT, _CONV, _LINEAR = 0, 1, 2


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
    spec: np.ndarray = field(repr=False, default=None)
    min_v_mem: np.ndarray = field(repr=False, default=None)
    pool_scale: np.ndarray = field(repr=False, default=None)
    weights: np.ndarray = field(repr=False, default=None)
    biases: np.ndarray = field(repr=False, default=None)
    cmaps: np.ndarray = field(repr=False, default=None)
    input_shape: tuple = ()


def _is_spiking(layer) -> bool:
    return isinstance(layer, sinabs.layers.SqueezeMixin) and hasattr(layer, "v_mem")


def _spiking_params(layer):
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
        if _pair(layer.padding) != (0, 0):
            raise UnsupportedNetwork(f"{layer}: average pooling with padding is not simulated")
        return _AVG_POOL, _pair(layer.kernel_size), _pair(layer.stride or layer.kernel_size), (0, 0)
    if isinstance(layer, SumPool2d):
        if layer.ceil_mode:
            raise UnsupportedNetwork(f"{layer}: ceil_mode is not simulated")
        return _SUM_POOL, _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
    if isinstance(layer, sinabs.layers.SumPool2d):
        if layer.ceil_mode or float(layer.norm_type) != 1.0:
            raise UnsupportedNetwork(f"{layer}: only p=1 sum pooling without ceil_mode")
        stride = layer.stride if layer.stride is not None else layer.kernel_size
        return _SUM_POOL, _pair(layer.kernel_size), _pair(stride), (0, 0)
    return None


def _pair(value) -> tuple:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * 2


IGNORED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


def compile_network(net, input_shape: Sequence[int]) -> SimulationPlan:
    """A `SimulationPlan` of a network converted by `to_spiking` (its `spiking_model`, an
    nn.Sequential), for one sample of `input_shape` (C, H, W). Raises UnsupportedNetwork,
    naming the layer, for what the fast simulator does not cover (use sinabs there)."""
    model = net.spiking_model if hasattr(net, "spiking_model") else net
    if not isinstance(model, nn.Sequential):
        raise UnsupportedNetwork(
            f"{type(model).__name__}: the fast simulator runs chains of layers (an "
            "nn.Sequential, as to_spiking builds for the package's networks); for other "
            "graphs (residual additions, branches) use --simulator sinabs")
    layers = list(model)
    spiking_positions = [i for i, layer in enumerate(layers) if _is_spiking(layer)]
    if not spiking_positions:
        raise UnsupportedNetwork("the network has no spiking layer")
    first, last = spiking_positions[0], spiking_positions[-1]
    weight_layers = [i for i, layer in enumerate(layers)
                     if isinstance(layer, (nn.Conv2d, nn.Linear))]
    for index, layer in enumerate(layers):
        if not (_is_spiking(layer) or isinstance(layer, (nn.Conv2d, nn.Linear, nn.Flatten))
                or _pool_params(layer) is not None or isinstance(layer, IGNORED)):
            raise UnsupportedNetwork(f"layer {index} ({type(layer).__name__}) is not simulated: "
                                     "supported are integrate-and-fire, Conv2d, Linear, average "
                                     "and sum pooling, Flatten and dropout")
    # shapes at every boundary, from one probe through the analog layers
    shapes = []
    data = torch.zeros(1, *input_shape, device=_device(model))
    with torch.no_grad():
        for layer in layers:
            shapes.append(tuple(data.shape[1:]))
            if not _is_spiking(layer):
                data = layer(data)
    shapes.append(tuple(data.shape[1:]))
    stages, neuron_shapes, layer_shapes = [], [], []
    for number, position in enumerate(spiking_positions):
        shape = _chw(shapes[position])
        neuron_shapes.append(shape)
        layer_shapes.append(shapes[position])
        if number == 0:
            stages.append(_Stage(in_shape=(), spiking=layers[position], out_shape=shape))
            continue
        previous = spiking_positions[number - 1]
        stage = _Stage(in_shape=neuron_shapes[number - 1], spiking=layers[position],
                       out_shape=shape)
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
                if isinstance(layer, nn.Linear) and not stage.flatten and len(stage.in_shape) \
                        and stage.in_shape[1:] != (1, 1) and stage.pool is None:
                    pass  # a Linear on a 1-D layer: in_shape (N, 1, 1)
                stage.weight = layer
                stage.pooled_shape = _chw(shapes[index])
        if stage.weight is None:
            raise UnsupportedNetwork(f"no weight layer between spiking layers {previous} and "
                                     f"{position}")
        if isinstance(stage.weight, nn.Conv2d) and (stage.flatten or len(shapes[position]) != 3):
            raise UnsupportedNetwork(f"layer {position}: a convolution after flatten")
        stages.append(stage)
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


def _device(model) -> torch.device:
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
    """The stages as the flat arrays the numba kernel reads (weights channel-last)."""
    spec = np.zeros((len(plan.stages), _SPEC_COLUMNS), dtype=np.int64)
    min_v_mem = np.zeros(len(plan.stages), dtype=np.float32)
    pool_scale = np.ones(len(plan.stages), dtype=np.float64)
    weights, biases, cmaps = [], [], []
    w_offset = b_offset = c_offset = 0
    for number, stage in enumerate(plan.stages):
        row = spec[number]
        single, bound = _spiking_params(stage.spiking)
        row[_OUT_C], row[_OUT_H], row[_OUT_W] = stage.out_shape
        row[_SINGLE] = single
        row[_HAS_MIN] = bound is not None
        min_v_mem[number] = 0.0 if bound is None else bound
        if number == 0:
            continue
        row[_IN_C], row[_IN_H], row[_IN_W] = stage.in_shape
        row[_PKH] = row[_PKW] = row[_PSH] = row[_PSW] = 1  # no pooling: a 1x1 window
        pooled = stage.in_shape
        if stage.pool is not None:
            kind, kernel, stride, padding = _pool_params(stage.pool)
            row[_POOL] = kind
            row[_PKH], row[_PKW] = kernel
            row[_PSH], row[_PSW] = stride
            row[_PPH], row[_PPW] = padding
            channels, height, width = stage.in_shape
            pooled = (channels, (height + 2 * padding[0] - kernel[0]) // stride[0] + 1,
                      (width + 2 * padding[1] - kernel[1]) // stride[1] + 1)
            if isinstance(stage.pool, nn.AvgPool2d):  # as sinabs' ModelSynopsHook scales
                pool_scale[number] = kernel[0] * kernel[1]
        row[_POOL_H], row[_POOL_W] = pooled[1], pooled[2]
        layer = stage.weight
        weight = layer.weight.detach().float().cpu()
        if isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                raise UnsupportedNetwork(f"{layer}: only numeric zero padding is simulated")
            row[_WEIGHT] = _CONV
            row[_KH], row[_KW] = layer.kernel_size
            row[_SH], row[_SW] = layer.stride
            row[_PH], row[_PW] = layer.padding
            row[_DH], row[_DW] = layer.dilation
            row[_GROUPS] = layer.groups
            # (out, in/groups, kh, kw) -> (in, kh, kw reversed, out/groups): the out
            # channels of one input neuron and kernel offset are contiguous, and so are
            # those of a kernel row, in the order of the output columns it reaches
            out_channels, group_in = weight.shape[:2]
            per_group = out_channels // layer.groups
            packed = weight.flip(3).reshape(layer.groups, per_group, group_in, *layer.kernel_size) \
                .permute(0, 2, 3, 4, 1).reshape(-1)
            connection = sinabs.hooks.conv_connection_map(
                layer, torch.Size(pooled), torch.Size(stage.out_shape), "cpu")[0]
            cmap = connection.permute(1, 2, 0).reshape(-1)  # channel-last, as the events
        else:
            row[_WEIGHT] = _LINEAR
            row[_GROUPS] = row[_SH] = row[_SW] = row[_DH] = row[_DW] = 1
            if weight.shape[1] != int(np.prod(pooled)):
                raise UnsupportedNetwork(f"{layer}: {weight.shape[1]} inputs for "
                                         f"{int(np.prod(pooled))} neurons")
            packed = weight.t().contiguous().reshape(-1)  # (in, out)
            cmap = torch.full((int(np.prod(pooled)),), float(layer.out_features))
        row[_W_OFF], row[_CMAP_OFF] = w_offset, c_offset
        weights.append(packed.numpy())
        cmaps.append(cmap.double().numpy())
        w_offset += packed.numel()
        c_offset += cmap.numel()
        if layer.bias is not None:
            row[_B_OFF] = b_offset
            biases.append(layer.bias.detach().float().cpu().numpy())
            b_offset += layer.bias.numel()
        else:
            row[_B_OFF] = -1
        # a neuron can change without input: a bias, a lower bound (sinabs rounds
        # relu(v - bound) + bound every step) or a single spike that leaves v >= 1
        row[_DENSE] = int(layer.bias is not None or bound is not None or single)
    # the first spiking layer: dense when its input is (prefix biases), bounded or single
    first = spec[0]
    prefix_bias = any(getattr(layer, "bias", None) is not None for layer in plan.prefix)
    first[_DENSE] = int(prefix_bias or first[_HAS_MIN] or first[_SINGLE])
    plan.spec, plan.min_v_mem, plan.pool_scale = spec, min_v_mem, pool_scale
    plan.weights = np.concatenate(weights) if weights else np.zeros(1, np.float32)
    plan.biases = np.concatenate(biases) if biases else np.zeros(1, np.float32)
    plan.cmaps = np.concatenate(cmaps) if cmaps else np.zeros(1, np.float64)


# ---------------------------------------------------------------- the CPU engine (numba)
def _numba():
    """numba, imported when the CPU engine is first used (its compile takes seconds, once;
    the compiled kernel is cached in __pycache__)."""
    import numba
    return numba


_KERNEL = None


def _kernel():
    global _KERNEL  # one compiled kernel per process, built on first use
    if _KERNEL is None:
        _KERNEL = _build_kernel(_numba())
    return _KERNEL


def _build_kernel(numba):
    f32 = np.float32
    # error_model "numpy": no ZeroDivisionError checks inside the loops (no divisor is 0)
    jit = numba.njit(nogil=True, cache=True, error_model="numpy")

    @numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
    def fire(x, single, has_min, bound):
        """One neuron's step after its input was added: (spikes, new v), as sinabs."""
        if single:
            spikes = f32(1.0) if x - f32(1.0) >= f32(0.0) else f32(0.0)
        elif x >= f32(1.0):  # (v > 0) * trunc(v / threshold), threshold 1: 0 below 1
            spikes = np.trunc(x)
        else:
            spikes = f32(0.0)
        x = x - spikes
        if has_min:
            shifted = x - bound
            if shifted < f32(0.0):
                shifted = f32(0.0)
            x = shifted + bound
        return spikes, x


    u64 = np.uint64

    @numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
    def fire_fast(x, mode, single, has_min, bound):
        """`fire`, with the two common cases written out so that loops around it vectorize:
        mode 0: several spikes per step, no bound; 1: the same with the bound; 2: `fire`."""
        if mode == 0:
            spikes = np.trunc(x) if x >= f32(1.0) else f32(0.0)
            return spikes, x - spikes
        if mode == 1:
            spikes = np.trunc(x) if x >= f32(1.0) else f32(0.0)
            shifted = (x - spikes) - bound
            shifted = shifted if shifted > f32(0.0) else f32(0.0)
            return spikes, shifted + bound
        return fire(x, single, has_min, bound)

    # The hot loops index with unsigned integers (a signed index costs a wraparound test
    # that stops LLVM from vectorizing) and call no function that takes an array (an
    # array argument costs two atomic reference counts per call).
    @jit
    def grow(array, used, extra):
        bigger = np.empty(max(1024, 2 * array.shape[0], used + extra), array.dtype)
        bigger[:used] = array[:used]
        return bigger

    @jit
    def simulate_sample(spec, min_v_mem, pool_scale, weights, biases, cmaps, steps,
                        dense_current, current_steps, in_t, in_y, in_x, in_c, in_v,
                        out_spikes, synops, spike_counts):
        """One sample through every stage; events are (t, y, x, c, value) in time order,
        neuron (y, x, c) of a layer of W columns and C channels is (y * W + x) * C + c."""
        n_stages = spec.shape[0]
        # ---- stage 0: the first spiking layer, on the prefix's current or the input
        height, width, channels = spec[0, 14], spec[0, 15], spec[0, 13]
        neurons = channels * height * width
        single, has_min, bound = spec[0, 28], spec[0, 30], min_v_mem[0]
        mode = 0 if not single and not has_min else (1 if not single else 2)
        dense = spec[0, 29] or current_steps > 0
        v = np.zeros(neurons, np.float32)
        current = np.zeros(neurons, np.float32)
        fired = np.zeros(neurons, np.float32)
        mark = np.zeros(neurons, np.bool_)
        touched = np.empty(neurons, np.int64)
        ev_t = np.empty(1024, np.int32)
        ev_y = np.empty(1024, np.int32)
        ev_x = np.empty(1024, np.int32)
        ev_c = np.empty(1024, np.int32)
        ev_v = np.empty(1024, np.float32)
        used = 0
        last = n_stages == 1
        cursor = 0
        for t in range(steps):
            if used + neurons > ev_t.shape[0]:  # room for one event per neuron
                ev_t, ev_y, ev_x = grow(ev_t, used, neurons), grow(ev_y, used, neurons), \
                    grow(ev_x, used, neurons)
                ev_c, ev_v = grow(ev_c, used, neurons), grow(ev_v, used, neurons)
            count = 0
            if current_steps == 0:
                while cursor < in_t.shape[0] and in_t[cursor] == t:
                    i = (in_y[cursor] * width + in_x[cursor]) * channels + in_c[cursor]
                    current[i] += in_v[cursor]
                    if not mark[i]:
                        mark[i] = True
                        touched[count] = i
                        count += 1
                    cursor += 1
            if dense:
                drive = current if current_steps == 0 else \
                    dense_current[0 if current_steps == 1 else t]
                for i in range(u64(neurons)):
                    spikes, updated = fire_fast(v[i] + drive[i], mode, single, has_min, bound)
                    v[i] = updated
                    fired[i] = spikes
                if current_steps == 0:
                    for k in range(count):
                        current[touched[k]] = f32(0.0)
                total = neurons
            else:
                for k in range(count):
                    i = touched[k]
                    spikes, updated = fire(v[i] + current[i], single, has_min, bound)
                    v[i] = updated
                    fired[k] = spikes
                    current[i] = f32(0.0)
                total = count
            for k in range(total):
                spikes = fired[k]
                if spikes == f32(0.0):
                    continue
                i = k if dense else touched[k]
                fired[k] = f32(0.0)
                spike_counts[0] += spikes
                if last:
                    out_spikes[t, i] = spikes
                    continue
                ev_t[used], ev_v[used] = t, spikes
                ev_c[used] = i % channels
                ev_x[used] = (i // channels) % width
                ev_y[used] = i // (channels * width)
                used += 1
            for k in range(count):
                mark[touched[k]] = False
        # ---- stages 1..: [pooling] -> weight layer -> spiking layer, over all steps
        for s in range(1, n_stages):
            in_c = spec[s, 0]
            pool, pkh, pkw, psh, psw, pph, ppw = spec[s, 3], spec[s, 4], spec[s, 5], \
                spec[s, 6], spec[s, 7], spec[s, 8], spec[s, 9]
            pool_h, pool_w = spec[s, 10], spec[s, 11]
            kind, out_c, out_h, out_w = spec[s, 12], spec[s, 13], spec[s, 14], spec[s, 15]
            kh, kw, sh, sw, ph, pw, dh, dw, groups = spec[s, 16], spec[s, 17], spec[s, 18], \
                spec[s, 19], spec[s, 20], spec[s, 21], spec[s, 22], spec[s, 23], spec[s, 24]
            w_off, b_off, c_off = spec[s, 25], spec[s, 26], spec[s, 27]
            single, dense, has_min, bound = spec[s, 28], spec[s, 29], spec[s, 30], min_v_mem[s]
            scale = pool_scale[s]
            last = s == n_stages - 1
            pooled_n = in_c * pool_h * pool_w
            neurons = out_c * out_h * out_w
            positions = out_h * out_w
            group_in = in_c // groups
            per_group = out_c // groups
            divisor = f32(pkh * pkw)
            unit = sh == 1 and sw == 1 and dh == 1 and dw == 1 and groups == 1
            mode = 0 if not single and not has_min else (1 if not single else 2)
            fired = np.zeros(out_c, np.float32)
            tiled = pkh == psh and pkw == psw and pph == 0 and ppw == 0  # one window each
            size = pooled_n if pool else 1
            pool_sum = np.zeros(size, np.float32)
            pool_mark = np.zeros(size, np.bool_)
            pool_y = np.empty(size, np.int32)
            pool_x = np.empty(size, np.int32)
            pool_c = np.empty(size, np.int32)
            acc = np.zeros(neurons, np.float32)
            v = np.zeros(neurons, np.float32)
            pos_mark = np.zeros(positions, np.bool_)
            pos_y = np.empty(positions, np.int32)
            pos_x = np.empty(positions, np.int32)
            nx_t = np.empty(1024, np.int32)
            nx_y = np.empty(1024, np.int32)
            nx_x = np.empty(1024, np.int32)
            nx_c = np.empty(1024, np.int32)
            nx_v = np.empty(1024, np.float32)
            nx_used = 0
            cursor = 0
            for t in range(steps):
                # room for one event per neuron: checked here, not per spike (an array
                # reassigned inside the loops costs reference counts on every spike)
                if nx_used + neurons > nx_t.shape[0]:
                    nx_t, nx_y = grow(nx_t, nx_used, neurons), grow(nx_y, nx_used, neurons)
                    nx_x, nx_c = grow(nx_x, nx_used, neurons), grow(nx_c, nx_used, neurons)
                    nx_v = grow(nx_v, nx_used, neurons)
                start = cursor
                while cursor < used and ev_t[cursor] == t:
                    cursor += 1
                # pooling: the spikes of this step summed per window
                n_pooled = 0
                if pool:
                    for e in range(start, cursor):
                        y, x, c = ev_y[e], ev_x[e], ev_c[e]
                        if tiled:
                            low_y = high_y = y // psh
                            low_x = high_x = x // psw
                        else:
                            low_y = max(0, -((-(y + pph - pkh + 1)) // psh))
                            high_y = (y + pph) // psh
                            low_x = max(0, -((-(x + ppw - pkw + 1)) // psw))
                            high_x = (x + ppw) // psw
                        for py in range(low_y, min(high_y, pool_h - 1) + 1):
                            for px in range(low_x, min(high_x, pool_w - 1) + 1):
                                j = (py * pool_w + px) * in_c + c
                                pool_sum[j] += ev_v[e]
                                if not pool_mark[j]:
                                    pool_mark[j] = True
                                    pool_y[n_pooled], pool_x[n_pooled], pool_c[n_pooled] = py, px, c
                                    n_pooled += 1
                    n_inputs = n_pooled
                else:
                    n_inputs = cursor - start
                # the weight layer: each input scattered to the neurons it reaches
                n_positions = 0
                for k in range(n_inputs):
                    if pool:
                        y, x, c = pool_y[k], pool_x[k], pool_c[k]
                        j = (y * pool_w + x) * in_c + c
                        value = pool_sum[j] / divisor if pool == 1 else pool_sum[j]
                        pool_sum[j] = f32(0.0)
                        pool_mark[j] = False
                    else:
                        e = start + k
                        y, x, c, value = ev_y[e], ev_x[e], ev_c[e], ev_v[e]
                        j = (y * pool_w + x) * in_c + c
                    synops[s] += np.float64(value) * cmaps[c_off + j] * scale
                    if kind == 1 and unit:
                        # stride and dilation 1, one group: a kernel row reaches
                        # consecutive output columns, one contiguous run of weights
                        first_x = x + pw - kw + 1  # the column of the row's last weight
                        low = max(0, -first_x)
                        high = min(kw - 1, out_w - 1 - first_x)
                        if low <= high:
                            run = (high - low + 1) * out_c
                            for ky in range(kh):
                                oy = y + ph - ky
                                if oy < 0 or oy >= out_h:
                                    continue
                                p0 = oy * out_w + first_x + low
                                for q in range(high - low + 1):
                                    if not pos_mark[p0 + q]:
                                        pos_mark[p0 + q] = True
                                        pos_y[n_positions] = oy
                                        pos_x[n_positions] = first_x + low + q
                                        n_positions += 1
                                a = u64(p0 * out_c)
                                wb = u64(w_off + ((c * kh + ky) * kw + low) * out_c)
                                for o in range(u64(run)):
                                    acc[a + o] += weights[wb + o] * value
                    elif kind == 1 and dh == 1 and dw == 1:
                        # any stride: the kernel rows (columns) that reach an output row
                        # (column) are every sh-th from (y + ph) mod sh, and their output
                        # rows are consecutive, from the first one down
                        g = c // group_in
                        first_ky, first_kx = (y + ph) % sh, (x + pw) % sw
                        oy = (y + ph - first_ky) // sh
                        for ky in range(first_ky, kh, sh):
                            if oy < 0:
                                break
                            if oy < out_h:
                                ox = (x + pw - first_kx) // sw
                                for kx in range(first_kx, kw, sw):
                                    if ox < 0:
                                        break
                                    if ox < out_w:
                                        p = oy * out_w + ox
                                        if not pos_mark[p]:
                                            pos_mark[p] = True
                                            pos_y[n_positions], pos_x[n_positions] = oy, ox
                                            n_positions += 1
                                        a = u64(p * out_c + g * per_group)
                                        wb = u64(w_off + ((c * kh + ky) * kw + kw - 1 - kx)
                                                 * per_group)
                                        for o in range(u64(per_group)):
                                            acc[a + o] += weights[wb + o] * value
                                    ox -= 1
                            oy -= 1
                    elif kind == 1:
                        g = c // group_in
                        for ky in range(kh):
                            oy = y + ph - ky * dh
                            if oy < 0 or oy % sh != 0:
                                continue
                            oy //= sh
                            if oy >= out_h:
                                continue
                            for kx in range(kw):
                                ox = x + pw - kx * dw
                                if ox < 0 or ox % sw != 0:
                                    continue
                                ox //= sw
                                if ox >= out_w:
                                    continue
                                p = oy * out_w + ox
                                if not pos_mark[p]:
                                    pos_mark[p] = True
                                    pos_y[n_positions], pos_x[n_positions] = oy, ox
                                    n_positions += 1
                                a = u64(p * out_c + g * per_group)
                                wb = u64(w_off + ((c * kh + ky) * kw + kw - 1 - kx) * per_group)
                                for o in range(u64(per_group)):
                                    acc[a + o] += weights[wb + o] * value
                    else:
                        flat = (c * pool_h + y) * pool_w + x  # torch's flatten order
                        wb = w_off + flat * out_c
                        if not pos_mark[0]:
                            pos_mark[0] = True
                            pos_y[0], pos_x[0] = 0, 0
                            n_positions = 1
                        wb = u64(wb)
                        for o in range(u64(out_c)):
                            acc[o] += weights[wb + o] * value
                # the spiking layer: the neurons that got input (all, when dense)
                total = positions if dense else n_positions
                for k in range(total):
                    if dense:
                        oy, ox = k // out_w, k % out_w
                    else:
                        oy, ox = pos_y[k], pos_x[k]
                    p = oy * out_w + ox
                    pos_mark[p] = False
                    base = u64(p * out_c)
                    if b_off >= 0:
                        bias = u64(b_off)
                        for o in range(u64(out_c)):
                            acc[base + o] = acc[base + o] + biases[bias + o]
                    for o in range(u64(out_c)):
                        spikes, updated = fire_fast(v[base + o] + acc[base + o], mode, single,
                                                    has_min, bound)
                        v[base + o] = updated
                        fired[o] = spikes
                        acc[base + o] = f32(0.0)
                    for o in range(out_c):
                        spikes = fired[o]
                        if spikes != f32(0.0):
                            spike_counts[s] += spikes
                            if last:
                                out_spikes[t, base + o] = spikes
                            else:
                                nx_t[nx_used], nx_y[nx_used], nx_x[nx_used] = t, oy, ox
                                nx_c[nx_used], nx_v[nx_used] = o, spikes
                                nx_used += 1
            ev_t, ev_y, ev_x, ev_c, ev_v, used = nx_t, nx_y, nx_x, nx_c, nx_v, nx_used

    return simulate_sample


# ---------------------------------------------------------------- running a batch
@dataclass
class BatchResult:
    """One batch through the simulator: the network's output per step (B, T, n_out), as
    the sinabs network returns it; SynOps per sample and weight layer (B, layers), in the
    order of `plan.weight_layers`; spikes per sample and spiking layer (B, layers)."""
    output: torch.Tensor
    layer_synops: np.ndarray
    spike_counts: np.ndarray


def _threads(threads: int | None) -> int:
    return max(1, int(threads if threads is not None else torch.get_num_threads()))


def _channel_last(tensor: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W*C); (N, C) stays."""
    if tensor.dim() == 4:
        return tensor.permute(0, 2, 3, 1).reshape(tensor.shape[0], -1)
    return tensor.reshape(tensor.shape[0], -1)


def _count_layer(layer: nn.Module, data: torch.Tensor, scale: float) -> torch.Tensor:
    """SynOps per frame of a weight layer on `data` (frames, ...), as sinabs' hook: input
    times connection map (Linear: out_features), times the preceding pooling's area."""
    if isinstance(layer, nn.Conv2d):
        connection = sinabs.hooks.conv_connection_map(
            layer, data.shape[1:], layer(data[:1]).shape[1:], data.device)
        per_frame = (data.double() * connection.double()).flatten(1).sum(1)
    else:
        per_frame = data.double().flatten(1).sum(1) * layer.out_features
    return per_frame * scale


def _run_counted(layers: nn.Sequential, data: torch.Tensor):
    """`layers` on `data` (frames, ...), with the SynOps per frame of each weight layer."""
    counts, scale = [], 1.0
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.AvgPool2d):
                kernel = _pair(layer.kernel_size)
                scale *= kernel[0] * kernel[1]
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                counts.append(_count_layer(layer, data, scale))
                scale = 1.0
            data = layer(data)
    return data, counts


def simulate(plan: SimulationPlan, data: torch.Tensor, threads: int | None = None) -> BatchResult:
    """One batch (B, T, *input_shape) from rest through the network on the CPU engine."""
    kernel = _kernel()
    data = data.detach().to("cpu", torch.float32)
    batch, steps = data.shape[:2]
    synops = np.zeros((batch, len(plan.weight_layers)), dtype=np.float64)
    prefix_counts = []
    constant = steps > 0 and data.stride(1) == 0  # a static input expanded over time
    if len(plan.prefix):
        frames = data[:, 0] if constant else data.reshape(batch * steps, *data.shape[2:])
        current, prefix_counts = _run_counted(plan.prefix, frames)
        current = _channel_last(current).contiguous().numpy()
        current_steps = 1 if constant else steps
        current = current.reshape(batch, current_steps, -1)
        for column, per_frame in enumerate(prefix_counts):
            per_frame = per_frame.cpu().numpy()
            synops[:, column] = per_frame * steps if constant else \
                per_frame.reshape(batch, steps).sum(1)
        events = None
    else:
        flat = data.reshape(batch, steps, *data.shape[2:])
        flat = flat.permute(0, 1, 3, 4, 2) if flat.dim() == 5 else flat
        flat = flat.reshape(batch, steps, -1)
        nonzero = flat.nonzero()
        values = flat[nonzero[:, 0], nonzero[:, 1], nonzero[:, 2]].contiguous().numpy()
        bounds = np.searchsorted(nonzero[:, 0].numpy(), np.arange(batch + 1))
        times = nonzero[:, 1].to(torch.int32).numpy()
        channels, height, width = plan.shapes[0]
        index = nonzero[:, 2]
        coordinates = [(index // (width * channels)).to(torch.int32).numpy(),
                       ((index // channels) % width).to(torch.int32).numpy(),
                       (index % channels).to(torch.int32).numpy()]
        events = (times, coordinates, values, bounds)
        current, current_steps = None, 0
    last_shape = plan.shapes[-1]
    last_neurons = int(np.prod(last_shape))
    spikes_out = np.zeros((batch, steps, last_neurons), dtype=np.float32)
    stage_synops = np.zeros((batch, len(plan.stages)), dtype=np.float64)
    spike_counts = np.zeros((batch, len(plan.stages)), dtype=np.float64)
    empty_i = np.zeros(0, np.int32)
    empty_v = np.zeros(0, np.float32)
    no_current = np.zeros((1, 1), np.float32)

    def one(sample):
        if events is None:
            args = (current[sample], current_steps, empty_i, empty_i, empty_i, empty_i, empty_v)
        else:
            times, (ys, xs, cs), values, bounds = events
            low, high = bounds[sample], bounds[sample + 1]
            args = (no_current, 0, times[low:high], ys[low:high], xs[low:high], cs[low:high],
                    values[low:high])
        kernel(plan.spec, plan.min_v_mem, plan.pool_scale, plan.weights, plan.biases,
               plan.cmaps, steps, *args, spikes_out[sample], stage_synops[sample],
               spike_counts[sample])

    workers = min(_threads(threads), batch)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(batch)))
    else:
        for sample in range(batch):
            one(sample)
    # the stages' weight layers follow the prefix's in the network
    first_stage_column = len(plan.prefix_weight_layers)
    synops[:, first_stage_column:first_stage_column + len(plan.stages) - 1] = stage_synops[:, 1:]
    # the layers after the last spiking layer, on its spikes, by torch (as sinabs)
    channels, height, width = last_shape
    spikes = torch.from_numpy(spikes_out).reshape(batch * steps, height, width, channels)
    spikes = spikes.permute(0, 3, 1, 2).reshape(batch * steps, *plan.layer_shapes[-1])
    output, suffix_counts = _run_counted(plan.suffix, spikes)
    for offset, per_frame in enumerate(suffix_counts):
        synops[:, first_stage_column + len(plan.stages) - 1 + offset] = \
            per_frame.cpu().numpy().reshape(batch, steps).sum(1)
    output = output.reshape(batch, steps, -1)
    return BatchResult(output, synops, spike_counts)



# ---------------------------------------------------------------- the CUDA engine (time-parallel)
def _scan_torch(current: torch.Tensor, potential: torch.Tensor, single: bool,
                bound: float | None) -> torch.Tensor:
    """Integrate-and-fire over time, a loop over steps: current (B, T, N) -> spikes; the
    membrane `potential` (B, N) is updated in place. sinabs' operations, in its order."""
    spikes = torch.empty_like(current)
    for step in range(current.shape[1]):
        x = potential + current[:, step]
        fired = (x >= 1).float() if single else torch.where(x >= 1, torch.trunc(x), 0.0)
        x = x - fired
        if bound is not None:
            x = torch.relu(x - bound) + bound
        potential.copy_(x)
        spikes[:, step] = fired
    return spikes


_TRITON_SCAN = None


def _triton_scan():
    """The scan as one Triton kernel (each program: a block of neurons, a loop over time),
    or None where Triton cannot be imported."""
    global _TRITON_SCAN  # compiled once per process
    if _TRITON_SCAN is not None:
        return _TRITON_SCAN or None
    try:
        import triton
        import triton.language as tl
    except ImportError:
        _TRITON_SCAN = False
        return None

    @triton.jit
    def scan_kernel(current, spikes, potential, steps, neurons, bound,
                    SINGLE: tl.constexpr, HAS_BOUND: tl.constexpr, BLOCK: tl.constexpr):
        sample = tl.program_id(0)
        offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        inside = offsets < neurons
        state = potential + sample * neurons + offsets
        v = tl.load(state, mask=inside, other=0.0)
        base = sample.to(tl.int64) * steps * neurons
        for step in range(steps):
            at = base + step * neurons + offsets
            x = v + tl.load(current + at, mask=inside, other=0.0)
            if SINGLE:
                fired = tl.where(x >= 1.0, 1.0, 0.0)
            else:
                # trunc(x) for x >= 1: conversion to integer rounds toward zero
                fired = tl.where(x >= 1.0, x.to(tl.int64).to(tl.float32), 0.0)
            x = x - fired
            if HAS_BOUND:
                x = tl.maximum(x - bound, 0.0) + bound
            v = x
            tl.store(spikes + at, fired, mask=inside)
        tl.store(state, v, mask=inside)

    def run(current, potential, single, bound):
        current = current.contiguous()
        batch, steps, neurons = current.shape
        spikes = torch.empty_like(current)
        block = 256
        scan_kernel[(batch, triton.cdiv(neurons, block))](
            current, spikes, potential, steps, neurons, 0.0 if bound is None else float(bound),
            SINGLE=bool(single), HAS_BOUND=bound is not None, BLOCK=block)
        return spikes

    _TRITON_SCAN = run
    return run


def scan(current: torch.Tensor, potential: torch.Tensor, single: bool, bound: float | None,
         engine: str = "auto") -> torch.Tensor:
    """Integrate-and-fire over time: `current` (B, T, N) -> spikes (B, T, N); `potential`
    (B, N) carries the state in and out. engine "triton" (CUDA, or the Triton
    interpreter), "torch" (a loop over steps), "auto" (Triton on CUDA, else torch)."""
    if engine == "auto":
        engine = "triton" if current.is_cuda and _triton_scan() is not None else "torch"
    if engine == "triton":
        kernel = _triton_scan()
        if kernel is None:
            raise RuntimeError("the Triton scan needs triton (pip install triton)")
        return kernel(current, potential, single, bound)
    return _scan_torch(current, potential, single, bound)


def simulate_time_parallel(net, data: torch.Tensor, memory_bytes: float = 4e9,
                           engine: str = "auto") -> BatchResult:
    """One batch (B, T, ...) from rest through the sinabs network's own layers, each weight
    layer once over all steps of a time window (window: as many steps as fit
    `memory_bytes` for the largest layer), each spiking layer one `scan`."""
    model = net.spiking_model if hasattr(net, "spiking_model") else net
    plan_layers = list(model)
    for layer in plan_layers:
        if _is_spiking(layer):
            _spiking_params(layer)  # the same checks as the CPU engine
    device = _device(model)
    data = data.to(device, torch.float32)
    batch, steps = data.shape[:2]
    widest = max(int(np.prod(shape)) for shape in _activation_shapes(model, data.shape[2:]))
    window = max(1, min(steps, int(memory_bytes // (4 * 3 * batch * max(widest, 1)))))
    potentials = {}
    weight_positions = [i for i, layer in enumerate(plan_layers)
                        if isinstance(layer, (nn.Conv2d, nn.Linear))]
    synops = torch.zeros(batch, len(weight_positions), dtype=torch.float64, device=device)
    spike_totals = torch.zeros(batch, sum(_is_spiking(layer) for layer in plan_layers),
                               dtype=torch.float64, device=device)
    outputs = []
    with torch.no_grad():
        for start in range(0, steps, window):
            chunk = data[:, start:start + window]
            length = chunk.shape[1]
            x = chunk.reshape(batch * length, *chunk.shape[2:])
            scale, spiking_number = 1.0, 0
            for index, layer in enumerate(plan_layers):
                if isinstance(layer, IGNORED):
                    continue
                if _is_spiking(layer):
                    single, bound = _spiking_params(layer)
                    shape = x.shape[1:]
                    current = x.reshape(batch, length, -1)
                    if index not in potentials:
                        potentials[index] = torch.zeros(batch, current.shape[2], device=device)
                    x = scan(current, potentials[index], single, bound, engine)
                    spike_totals[:, spiking_number] += x.sum((1, 2), dtype=torch.float64)
                    spiking_number += 1
                    x = x.reshape(batch * length, *shape)
                    continue
                if isinstance(layer, nn.AvgPool2d):
                    kernel = _pair(layer.kernel_size)
                    scale *= kernel[0] * kernel[1]
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    per_frame = _count_layer(layer, x, scale).reshape(batch, length)
                    synops[:, weight_positions.index(index)] += per_frame.sum(1)
                    scale = 1.0
                x = layer(x)
            outputs.append(x.reshape(batch, length, -1))
    return BatchResult(torch.cat(outputs, 1), synops.cpu().numpy(), spike_totals.cpu().numpy())


def _activation_shapes(model: nn.Sequential, sample_shape) -> list:
    shapes, data = [], torch.zeros(1, *sample_shape, device=_device(model))
    with torch.no_grad():
        for layer in model:
            shapes.append(tuple(data.shape[1:]))
            if not _is_spiking(layer):
                data = layer(data)
    return shapes


# ---------------------------------------------------------------- evaluation
def run_batch(net, data: torch.Tensor, plan: SimulationPlan | None = None,
              threads: int | None = None) -> BatchResult:
    """One batch through the fast simulator: the CPU engine for a network on the CPU
    (`plan`: its compiled form, made here when not given), the time-parallel engine for
    one on CUDA."""
    if _device(net.spiking_model).type == "cuda":
        return simulate_time_parallel(net, data)
    if plan is None:
        plan = compile_network(net, tuple(data.shape[2:]))
    return simulate(plan, data, threads)


def evaluate_fast(net, batches: Iterable, progress: bool | str = False,
                  keep_output: bool = False, threads: int | None = None):
    """`spiking.evaluate_spiking`, on the fast simulator: the same batches of (data
    (B, T, ...), labels), the same `SpikingResult` (predictions: argmax of the output
    summed over time; SynOps per sample and weight layer, as sinabs.hooks counts them)."""
    from tqdm.auto import tqdm

    from .spiking import SpikingResult

    predictions, labels, outputs, sample_synops = [], [], [], []
    plan = None
    iterator = tqdm(batches, desc=progress if isinstance(progress, str) else "spiking (fast)",
                    leave=False, disable=not progress)
    for data, target in iterator:
        if plan is None and _device(net.spiking_model).type != "cuda":
            plan = compile_network(net, tuple(data.shape[2:]))
        result = run_batch(net, data, plan, threads)
        summed = result.output.sum(1)
        predictions.append(summed.argmax(1).cpu().numpy())
        labels.append(np.asarray(target).reshape(-1))
        if keep_output:
            outputs.append(summed.cpu().numpy())
        sample_synops.append(result.layer_synops)
    if not predictions:
        raise ValueError("evaluate_fast: no batches to evaluate")
    return SpikingResult(
        predictions=np.concatenate(predictions), labels=np.concatenate(labels),
        sample_synops=np.concatenate(sample_synops),
        output_spikes=np.concatenate(outputs) if keep_output else None,
        layer_names=[name for name, _, _ in getattr(net, "synop_layers", [])] or None)

"""Does a network fit a neuromorphic chip, and what do the chip's 8-bit weights do to it?

Speck / DYNAP-CNN (SynSense), the paper's target: 9 cores, each holding one convolutional
layer's kernels and neurons, with kernel and neuron memories of (16, 64), (16, 64),
(16, 64), (32, 32), (32, 32), (64, 16), (64, 16), (16, 16) and (16, 16) Ki words; 8-bit
weights with a 16-bit threshold per layer. A linear layer maps as a convolution whose
kernel covers its whole input. The memory of each layer is sinabs' own formula
(`sinabs.validate_memory_speck.ValidateMapping`: kernel memory = input channels x
2^(ceil log2 kernel area + ceil log2 output channels), neuron memory = output channels x
2^(ceil log2 width + ceil log2 height)), which needs neither samna nor sinabs.backend.

The other rules are those sinabs 3.1.3 enforces when it maps a network onto Speck, read
from its source (sinabs/backend/dynapcnn/, which imports samna, so it is read, not run)
and, where samna checks them, from sinabs' Speck docs:

- weight layers are nn.Conv2d or nn.Linear (`connectivity_specs.Weight`); a core is
  weights -> spiking layer -> sum pooling, so each weight layer is followed by its
  activation and an activation follows a weight layer (`connectivity_specs.
  VALID_SINABS_EDGE_TYPES`, checked by `sinabs_edges_handler.sort_edges_by_type`);
- square kernels (`dynapcnn_layer.DynapcnnLayer.__init__`, `chips/dynapcnn.py`
  `DynapcnnConfigBuilder.get_dynapcnn_layer_config_dict`, which writes one kernel size),
  at most 16x16, at most 1024 output channels, strides 1, 2, 4 or 8
  (`validate_memory_speck.ValidateMapping.__init__`);
- no dilation, no groups, zero padding only: a core's configuration holds one kernel
  size, the stride, the padding and the full (output, input) weights, nothing else
  (`get_dynapcnn_layer_config_dict`); at most 7 zeros of padding a side (docs/speck/
  overview.md, "DYNAP-CNN Layer");
- pooling is nn.AvgPool2d or SumPool2d (`connectivity_specs.Pooling`), square
  (`DynapcnnLayer.__init__`), with stride = kernel (`dynapcnn_layer_utils.
  extract_pooling_from_module`), no padding and no partial windows (a destination holds
  one integer "pooling", `get_dynapcnn_layer_config_dict`); average pooling becomes sum
  pooling with the next weights divided by the kernel area (`extract_pooling_from_module`,
  which reads no `divisor_override`; `count_include_pad` matters only with padding, which
  is refused anyway); consecutive poolings are
  multiplied into one (`dynapcnn_layer_utils.consolidate_dest_pooling`), which must be
  1x1, 2x2 or 4x4 (`ValidateMapping`, conv_2d=False); pooling before the first weight layer
  is the DVS layer's, which takes 1 or 2 channels (`dvs_layer.DVSLayer.from_layers`);
- inputs of at most 128x128 and at most 64x64 neurons per channel in a core
  (docs/speck/faqs/available_network_arch.md, "Feature Map Size Constrains");
- biases: 1024 words a core (`DynapcnnConfigBuilder.get_constraints`), which the
  1024-channel limit already keeps;
- a BatchNorm is folded into the weight layer right before it (`sinabs_edges_handler.
  handle_batchnorm_nodes` merges Conv2d -> BatchNorm2d and Linear -> BatchNorm1d edges and
  drops every other BatchNorm; `to_spiking` folds with `graph.fold_batchnorm`, which
  refuses the rest): one anywhere else, or without running statistics, is a problem.

An activation before the first weight layer (the paper's input NeuromorphicReLU) stands
for the input events and is not a core. This is a check on paper, and an emulation of the
chip's arithmetic: not the chip (no samna, no hardware here). A network that passes still
has to be mapped by sinabs' DynapcnnNetwork, which also places the layers and routes the
spikes.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import List, Sequence

import torch
import torch.nn as nn
from sinabs.validate_memory_speck import ValidateMapping

from ..graph import ACTIVATIONS, AVERAGE_POOLING, NORMALISATION, SUM_POOLING, WEIGHTED, trace
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
    max_padding: int = 7          # zeros a side
    max_input_size: int = 128     # a side: the DVS array, and what a core takes in
    max_neuron_map: int = 64      # a side: a core's neurons per channel
    dvs_channels: int = 2         # what the DVS layer (pooling before layer 1) takes


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


def _as_chain(model: nn.Module, input_shape: Sequence[int]) -> nn.Sequential:
    """`synops.as_sequential`, run in eval mode as the chip's network is: in training mode
    its probe would update the BatchNorms' running statistics, and a BatchNorm1d refuses a
    batch of one (a ValueError that read as a branching network)."""
    was_training = model.training
    model.eval()
    try:
        return as_sequential(model, input_shape)
    finally:
        model.train(was_training)


def chip_fit(model: nn.Module, input_shape: Sequence[int], chip: Chip = SPECK) -> ChipFit:
    """Whether `model` (analog or the network it converts to) fits `chip`, on paper.

    Args:
        model: the analog network (a chain of layers, as sinabs' DynapcnnNetwork maps).
        input_shape: one sample's shape (C, H, W).
        chip: the chip's limits (`CHIPS`; default Speck).

    Returns:
        A `ChipFit`: each weight layer's kernel, neuron and bias memory, the cores the
        layers take (a layer a core), `fits`, and every problem in words, each naming the
        layer, what the chip allows and the fix.
    """
    graph = trace(model)
    modules = dict(model.named_modules())
    shapes = _input_shapes(model, input_shape)
    problems, layers = _input_problems(input_shape, chip), []
    problems += _norm_problems(graph, modules)
    try:
        _as_chain(model, input_shape)
    except ValueError:
        problems.append(f"{chip.name} maps a chain of layers (sinabs' DynapcnnNetwork): the "
                        "model's additions or branches are not mapped")
    else:
        problems += _chain_problems(graph.order, modules, input_shape, chip)
    for name in graph.order:
        module = modules[name]
        if isinstance(module, AVERAGE_POOLING + SUM_POOLING):
            problems += [f"{name}: {problem}"
                         for problem in _pooling_problems(module, shapes[name], chip)]
        elif isinstance(module, WEIGHTED):
            layer = _layer_fit(name, module, _geometry(name, module, graph, shapes, modules),
                               chip)
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


def _pair(value) -> tuple:
    """A size as (height, width), from an int or a pair."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _input_problems(input_shape: Sequence[int], chip: Chip) -> List[str]:
    """The input is the DVS array's or what the first core takes in: at most 128x128 on
    Speck (sinabs docs/speck/faqs/available_network_arch.md, checked by samna)."""
    size = tuple(input_shape[1:])
    if not size or max(size) <= chip.max_input_size:
        return []
    side = chip.max_input_size
    return [f"input {'x'.join(map(str, size))} (the chip takes at most {side}x{side}: its "
            f"DVS array and a core's input): downsample or crop the input to {side}x{side}"]


@dataclass(frozen=True)
class _Geometry:
    """A weight layer as the chip sees it: a 2-D convolution over (H, W)."""
    in_channels: int
    kernel: tuple
    stride: tuple
    padding: tuple | str          # a string: PyTorch's "same" or "valid"
    dilation: tuple
    groups: int
    input_size: tuple             # (H, W)
    neuron_map: tuple             # (H, W) of the output, per channel


def _geometry(name, module, graph, shapes, modules) -> _Geometry:
    """The weight layer `name` as a 2-D convolution; a linear layer is one whose kernel is
    its whole input (sinabs' `dynapcnn_layer.convert_linear_to_conv`)."""
    in_shape, out_shape = shapes[name]
    if isinstance(module, nn.Conv2d):
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        return _Geometry(module.in_channels, tuple(module.kernel_size), tuple(module.stride),
                         padding, tuple(module.dilation), module.groups, tuple(in_shape[1:]),
                         tuple(out_shape[1:]))
    if isinstance(module, nn.Conv1d):
        padding = module.padding if isinstance(module.padding, str) else (0, module.padding[0])
        return _Geometry(module.in_channels, (1, module.kernel_size[0]), (1, module.stride[0]),
                         padding, (1, module.dilation[0]), module.groups, (1, in_shape[-1]),
                         (1, out_shape[-1]))
    source = _unflattened(graph, name, shapes, modules)
    in_channels, size = (source[0], tuple(source[1:])) if len(source) == 3 else \
        (module.in_features, (1, 1))
    return _Geometry(in_channels, size, (1, 1), (0, 0), (1, 1), 1, size, (1, 1))


def _layer_fit(name: str, module: nn.Module, shape: _Geometry, chip: Chip) -> LayerFit:
    """The layer's memories (sinabs' ValidateMapping) and every rule it breaks."""
    out_channels = module.weight.shape[0]
    layer = LayerFit(name, shape.in_channels, out_channels, shape.kernel, shape.stride,
                     shape.input_size, math.nan, math.nan,
                     out_channels if module.bias is not None else 0)
    layer.problems += _weight_problems(module, shape, out_channels, chip)
    # ValidateMapping raises on these; the memories are only worth stating without them
    if max(shape.kernel) > chip.max_kernel or out_channels > chip.max_channels or \
            any(s not in chip.strides for s in shape.stride) or isinstance(shape.padding, str):
        return layer
    mapping = ValidateMapping(shape.in_channels, out_channels, shape.kernel, shape.stride,
                              shape.padding, list(shape.input_size))
    kernel_ki, neuron_ki, kernel_error, neuron_error = mapping.calculate_total_memory()
    layer.kernel_memory_ki, layer.neuron_memory_ki = float(kernel_ki), float(neuron_ki)
    # sinabs states a missing core once from each memory's side: say it once
    errors = [error for error in (kernel_error, neuron_error) if error]
    if len(errors) == 2 and all(error.startswith("There is no core") for error in errors):
        errors = errors[:1]
    layer.problems += errors
    return layer


def _weight_problems(module: nn.Module, shape: _Geometry, out_channels: int,
                     chip: Chip) -> List[str]:
    """Each rule of sinabs' Speck mapping that one weight layer breaks, with the fix."""
    problems = []
    kernel, stride, padding = shape.kernel, shape.stride, shape.padding
    if isinstance(module, nn.Conv1d):  # connectivity_specs.Weight = (nn.Conv2d, nn.Linear)
        problems.append("a Conv1d (sinabs maps nn.Conv2d and nn.Linear only): make it an "
                        "nn.Conv2d over a (C, H, W) input")
    if kernel[0] != kernel[1]:  # DynapcnnLayer.__init__, get_dynapcnn_layer_config_dict
        whole = " (a linear layer's kernel is its whole input)" \
            if isinstance(module, nn.Linear) else ""
        problems.append(f"kernel {kernel}{whole} is not square (the chip takes one kernel "
                        f"size per layer): use a k x k kernel")
    if max(kernel) > chip.max_kernel:  # ValidateMapping.__init__
        problems.append(f"kernel {kernel} (at most {chip.max_kernel}x{chip.max_kernel}): "
                        "use a smaller kernel")
    if out_channels > chip.max_channels:  # ValidateMapping.__init__
        problems.append(f"{out_channels} output channels (at most {chip.max_channels}): "
                        "use fewer channels")
    if any(s not in chip.strides for s in stride):  # ValidateMapping.check_stride
        problems.append(f"stride {stride} (1, 2, 4 or 8): use one of those strides")
    # get_dynapcnn_layer_config_dict writes kernel size, stride, padding and the full
    # (output, input) weights: no dilation, no groups, no padding mode
    if any(d != 1 for d in shape.dilation) and max(kernel) > 1:
        problems.append(f"dilation {shape.dilation} (the chip's kernels are not dilated): "
                        "use dilation 1, with a larger kernel if the reach is needed")
    if shape.groups != 1:
        problems.append(f"groups {shape.groups} (a core connects every input channel to "
                        "every output channel): use groups=1")
    problems += _padding_problems(module, padding, chip)
    if max(shape.neuron_map) > chip.max_neuron_map:  # available_network_arch.md
        side = chip.max_neuron_map
        problems.append(f"{shape.neuron_map[0]}x{shape.neuron_map[1]} neurons per channel "
                        f"(a core holds at most {side}x{side}): use a stride of 2 or more, "
                        "or pool before this layer")
    return problems


def _padding_problems(module: nn.Module, padding, chip: Chip) -> List[str]:
    """The chip pads with zeros, at most 7 a side (sinabs docs/speck/overview.md), and
    sinabs' config builder reads the padding as numbers (conv.padding[0], [1])."""
    if isinstance(padding, str):
        return [f"padding '{padding}' (sinabs writes the padding into the chip's "
                "configuration as two numbers): write it as padding=(p, p)"]
    problems = []
    if max(padding) > chip.max_padding:
        problems.append(f"padding {padding} (at most {chip.max_padding} a side): pad less, "
                        "or pad the input")
    mode = getattr(module, "padding_mode", "zeros")
    if mode != "zeros" and any(padding):
        problems.append(f"padding_mode '{mode}' (the chip pads with zeros): use "
                        "padding_mode='zeros'")
    return problems


def _pooling_problems(module: nn.Module, shape: tuple, chip: Chip) -> List[str]:
    """Each rule of sinabs' Speck mapping that one pooling layer breaks, with the fix.
    `shape`: its (input, output) shapes."""
    if not isinstance(module, (nn.AvgPool2d,) + SUM_POOLING):  # connectivity_specs.Pooling
        return [f"{type(module).__name__} (sinabs maps nn.AvgPool2d and SumPool2d only): "
                "use a 2-D pooling over a (C, H, W) input"]
    kernel = _pair(module.kernel_size)
    stride = kernel if module.stride is None else _pair(module.stride)
    problems = []
    # DynapcnnLayer.__init__ (square); ValidateMapping with conv_2d=False (1, 2 or 4)
    if kernel[0] != kernel[1] or kernel[0] not in chip.pool_sizes:
        problems.append(f"pooling {kernel} (the chip sums over 1x1, 2x2 or 4x4): use one "
                        "of those, and pool further after a later weight layer")
    if stride != kernel:  # dynapcnn_layer_utils.extract_pooling_from_module
        problems.append(f"pooling stride {stride} with kernel {kernel} (the chip pools "
                        "non-overlapping windows, stride = kernel): leave the stride out")
    # a destination's pooling is one integer (get_dynapcnn_layer_config_dict), done as
    # sum_pool2d(x, kernel_size=pool) (DynapcnnLayer.forward): no padding, floor
    if any(_pair(getattr(module, "padding", 0))):
        problems.append(f"pooling padding {_pair(module.padding)} (the chip's pooling does "
                        "not pad): use padding 0")
    in_size, out_size = tuple(shape[0][-2:]), tuple(shape[1][-2:])
    problems += _divisor_problems(module, kernel)
    if getattr(module, "ceil_mode", False) and stride == kernel and not any(
            _pair(getattr(module, "padding", 0))) and out_size != tuple(
            size // step for size, step in zip(in_size, stride, strict=True)):
        problems.append(f"ceil_mode=True pools the partial windows at the edge of "
                        f"{in_size[0]}x{in_size[1]} (the chip drops them): use "
                        "ceil_mode=False, or an input size that the pooling divides")
    return problems


def _divisor_problems(module: nn.Module, kernel: tuple) -> List[str]:
    """sinabs maps an average pooling as sum pooling with the next layer's weights divided
    by the kernel area (`dynapcnn_layer_utils.extract_pooling_from_module`); it reads no
    `divisor_override`, so another divisor would put another network on the chip."""
    override, area = getattr(module, "divisor_override", None), kernel[0] * kernel[1]
    if override is None or override == area:
        return []
    divide = "" if override == 1 else f" and divide the next weight layer's weights by {override}"
    return [f"divisor_override={override} (sinabs maps average pooling as sum pooling with the "
            f"next weights divided by the kernel area, {area}, whatever the override: "
            f"dynapcnn_layer_utils.extract_pooling_from_module): use SumPool2d{divide}, or "
            f"leave divisor_override out and multiply those weights by {area / override:g}"]


def _norm_problems(graph, modules: dict) -> List[str]:
    """Each BatchNorm that cannot be folded, decided as `graph.fold_batchnorm` (what
    `to_spiking` runs) decides: fed by one weight layer used nowhere else, with running
    statistics. Neither the spiking network nor the chip normalises: sinabs merges a
    BatchNorm into the weight layer before it (`sinabs_edges_handler.
    handle_batchnorm_nodes`) and drops any other."""
    problems = []
    for node in graph.traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], NORMALISATION):
            continue
        source, norm = node.args[0], modules[node.target]
        layer = modules.get(source.target) if getattr(source, "op", None) == "call_module" \
            else None
        if not isinstance(layer, WEIGHTED) or len(source.users) != 1:
            feed = "the input" if layer is None else f"{source.target} ({type(layer).__name__})"
            if isinstance(layer, WEIGHTED):
                feed += ", whose output is also used elsewhere"
            problems.append(f"{node.target}: a BatchNorm fed by {feed} cannot be folded into "
                            "the weights before it (the spiking network and the chip do not "
                            "normalise; to_spiking refuses it, graph.fold_batchnorm): put it "
                            "right after a convolution or linear layer used nowhere else, or "
                            "remove it")
        elif not norm.track_running_stats or norm.running_mean is None:
            problems.append(f"{node.target}: a BatchNorm without running statistics "
                            "(track_running_stats=False) normalises each batch by itself and "
                            "cannot be folded into the weights before it: use "
                            "track_running_stats=True and train again")
    return problems


def _role(module: nn.Module) -> str | None:
    """What a layer is on a core: weights, the spiking layer (an activation, once
    converted), pooling; None for what the chip does not see (dropout, flatten, a
    BatchNorm folded into the weights; one that cannot be folded is `_norm_problems`')."""
    if isinstance(module, WEIGHTED):
        return "weight"
    if isinstance(module, ACTIVATIONS):
        return "activation"
    if isinstance(module, AVERAGE_POOLING + SUM_POOLING):
        return "pooling"
    return None


def _chain_problems(order: List[str], modules: dict, input_shape: Sequence[int],
                    chip: Chip) -> List[str]:
    """The order of a chain's layers against a core's: weights, spiking layer, pooling
    (sinabs' connectivity_specs.VALID_SINABS_EDGE_TYPES: weight -> neuron, neuron ->
    pooling or weight, pooling -> pooling or weight; sinabs_edges_handler refuses the
    rest, and a weight layer without its spiking layer)."""
    problems, run = [], []
    previous, previous_role, after_weights = None, None, False
    for name in [*order, None]:
        role = _role(modules[name]) if name is not None else "end"
        if role is None:
            continue
        if run and role != "pooling":
            problems += _pooling_run_problems(run, modules, after_weights, input_shape, chip)
            run = []
        if previous_role == "weight" and role != "activation":
            problems.append(f"{previous}: no activation after it (a core is weights, then "
                            "spiking neurons, then pooling, and sinabs refuses a weight layer "
                            f"without its spiking layer): add a ReLU right after {previous}")
        if role == "activation" and after_weights and previous_role != "weight":
            problems.append(f"{name}: an activation after {previous}, not after a weight "
                            "layer (the chip's spiking neurons come right after a core's "
                            "weights): remove it, or put a weight layer before it")
        if role == "pooling":
            run.append(name)
        after_weights = after_weights or role == "weight"
        previous, previous_role = name, role
    return problems


def _pooling_run_problems(run: List[str], modules: dict, after_weights: bool,
                          input_shape: Sequence[int], chip: Chip) -> List[str]:
    """Consecutive poolings are one on the chip: their kernels multiply
    (dynapcnn_layer_utils.consolidate_dest_pooling); before the first weight layer they are
    the DVS layer's, which takes 1 or 2 channels (dvs_layer.DVSLayer.from_layers)."""
    problems = []
    if not after_weights and input_shape[0] > chip.dvs_channels:
        problems.append(f"{run[0]}: pooling before the first weight layer is done by the "
                        f"chip's DVS layer, which takes 1 or {chip.dvs_channels} channels, "
                        f"not {input_shape[0]}: pool after the first weight layer instead")
    kernels = [_pair(modules[name].kernel_size) for name in run]
    each_fits = all(isinstance(modules[name], (nn.AvgPool2d,) + SUM_POOLING) and
                    kernel[0] == kernel[1] and kernel[0] in chip.pool_sizes
                    for name, kernel in zip(run, kernels, strict=True))
    total = math.prod(kernel[0] for kernel in kernels)
    if len(run) > 1 and each_fits and total not in chip.pool_sizes:
        problems.append(f"{', '.join(run)}: poolings {' then '.join(map(str, kernels))} are "
                        f"one pooling ({total}, {total}) on the chip (sinabs multiplies "
                        "consecutive poolings), which sums over 1x1, 2x2 or 4x4: put a "
                        "weight layer between them, or pool less")
    return problems


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

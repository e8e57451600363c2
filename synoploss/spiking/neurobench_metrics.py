"""NeuroBench's metrics of a converted network, counted in the same run as our SynOps, on
either simulator, by NeuroBench's rules as its source states them. Its numbers changed between
versions (NeuroBench issue #258), so every number here carries the version of the rules
it follows, `NEUROBENCH_RULES`. Paths below are in NeuroBench/neurobench at tag 2.3.0
(the same files as the PyPI wheel neurobench==2.3.0).

SynapticOperations (metrics/workload/synaptic_operations.py; metrics/utils/layers/macs.py,
input.py, binary_copy.py; hooks/layer.py; models/neurobench_model.py):

- a forward pre-hook on every nn.Linear, Conv1d, Conv2d and Conv3d (blocks/layer.py,
  STATELESS_LAYERS), the first one included (its input is the data);
- every call's input is binarised (non-zero, -1 too, -> 1), so are the weights, the bias
  is set to zero, the layer is run again and its output summed: the input-weight pairs
  where both are non-zero. Here the same count as sum over inputs of [input != 0] times
  the input's connections through non-zero weights (the layer is linear), in float64;
- the call's operations are ACs when every input of the call (the whole batch, every step
  it holds) is 0, 1 or -1, else MACs: a multiplicity (two spikes in one step, a sum-pooled
  count, a DVS bin of two events, an average-pooled 0.25) is lost, and one such input
  makes the whole call "MACs". A sinabs network runs each weight layer once per batch
  (B * T frames), so the decision is made per batch and layer, here as there;
- Dense: the same with input and weights all ones: every connection (zero padding adds
  none), at every step, whatever the input;
- totals over calls and batches divided by the samples (each batch's data[0].size(0)):
  per sample, summed over steps. Pooling, normalisation, biases and neurons: not counted.

ActivationSparsity (metrics/workload/activation_sparsity.py, hooks/neuron.py,
metrics/manager/workload_manager.py): zeros over all outputs of the activation layers,
every neuron at every step (for sinabs the spike count of a step, zero or not); per batch,
weighted by batch size / samples: the mean over samples of each sample's share, as here.
Activation layers there are nn.ReLU and nn.Sigmoid (blocks/activation.py), plus
snntorch's neurons for an SNNTorchModel: a sinabs network under TorchModel has none
(ActivationSparsity 0.0) unless `add_activation_module` names sinabs' layer. Here sinabs'
neurons (StatefulLayer) count.

Footprint (metrics/static/footprint.py): bytes of all parameters and buffers. sinabs'
neuron states are buffers of the last batch's size; here one sample's (as a network fresh
from `to_spiking` has them), so that the number does not depend on the batch size.
ConnectionSparsity (metrics/static/connection_sparsity.py): zero weights over all weights
of those layers (biases not counted); NeuroBench rounds it to 4 decimals, not done here.
Both are measured on `net.spiking_model`: the whole sinabs Network also holds its analog
copy (`analog_model`), which NeuroBench would count too.

Both simulators give a batch's counts per sample (`result.NeuroBenchCounts`): sinabs by
the hooks of `NeuroBenchCounter`, the fast simulator in its own pass (the CPU kernel per
input event, with the connection maps of the non-zero weights; torch, by the hooks'
formula `plan.neurobench_frames`, for the layers it runs). `NeuroBenchTally.add` makes the
per-batch decisions for both, so that the same batches give the same metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List

import numpy as np
import sinabs.layers
import torch
import torch.nn as nn

from .fast.plan import device_of, neurobench_frames
from .result import NeuroBenchCounts
from .sinabs_run import run_steps

NEUROBENCH_RULES = "2.3.0"  # the NeuroBench version whose rules these numbers follow
# neurobench/blocks/layer.py STATELESS_LAYERS: the layers whose operations count
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# neurobench/blocks/activation.py, and sinabs' neurons in the place of snntorch's
ACTIVATION_LAYERS = (nn.ReLU, nn.Sigmoid, sinabs.layers.StatefulLayer)


@dataclass
class NeuroBenchMetrics:
    """NeuroBench's metrics of a test, per sample (means: `summary`, `layer_means`).

    effective_acs, effective_macs, dense: (samples, weight layers); a layer's binarised
    count is in effective_acs where every input of its batch was 0 or +-1, else in
    effective_macs. binary_input: (samples, weight layers), whether this sample's own
    inputs were all 0 or +-1 (NeuroBench decides per batch, so its split depends on the
    batching; this does not). activation_sparsity: (samples,)."""
    layer_names: List[str]
    effective_acs: np.ndarray
    effective_macs: np.ndarray
    dense: np.ndarray
    binary_input: np.ndarray
    activation_sparsity: np.ndarray
    footprint_bytes: int
    connection_sparsity: float
    rules: str = NEUROBENCH_RULES

    def layer_means(self, metric: str) -> List[float]:
        """Per sample, per weight layer: "effective_acs", "effective_macs" or "dense"."""
        return [float(value) for value in getattr(self, metric).mean(0)]

    def summary(self) -> dict:
        """The means, under NeuroBench's names (its Benchmark.run result)."""
        return {"Footprint": self.footprint_bytes,
                "ConnectionSparsity": self.connection_sparsity,
                "ActivationSparsity": float(self.activation_sparsity.mean()),
                "SynapticOperations": {
                    "Effective_MACs": float(self.effective_macs.sum(1).mean()),
                    "Effective_ACs": float(self.effective_acs.sum(1).mean()),
                    "Dense": float(self.dense.sum(1).mean())},
                "rules": self.rules}


def neurobench_metrics(net, batches: Iterable) -> NeuroBenchMetrics:
    """NeuroBench's metrics of a network from `to_spiking` on (data (B, T, ...), labels)
    batches, run by sinabs, every sample from rest (as `Simulation(net, "sinabs")`).

    To have them in the same pass as our SynOps, on either simulator:
    `evaluate(net, batches, simulator, neurobench=True).neurobench`; or keep a
    `NeuroBenchCounter(net)` beside a sinabs `Simulation` and call its `end_batch` after
    each batch.

    Raises:
        ValueError: no batches.
    """
    with NeuroBenchCounter(net) as counter, torch.no_grad():
        for data, _ in batches:
            data = data.to(device_of(net), torch.float32)
            run_steps(net, data)
            counter.end_batch(data.shape[0])
        return counter.result()


def weight_layer_names(net) -> List[str]:
    """The counted layers' names: a converted network's own (`net.synop_layers`) where
    known, else their names in the module."""
    model = getattr(net, "spiking_model", net)
    known = {id(layer): name for name, layer, _ in getattr(net, "synop_layers", [])}
    return [known.get(id(module), name) for name, module in model.named_modules()
            if isinstance(module, WEIGHT_LAYERS)]


class NeuroBenchTally:
    """NeuroBench's metrics of a test from each batch's counts per sample
    (`NeuroBenchCounts`, as either simulator measures them): `add` makes NeuroBench's
    per-batch decisions (ACs or MACs), for both simulators, so that they agree.
    `net`: a network from `to_spiking` (its spiking model counts), or any module."""

    def __init__(self, net: nn.Module):
        self.model = getattr(net, "spiking_model", net)
        self.layer_names = weight_layer_names(net)
        self.samples = {"effective": [], "binary": [], "batch_binary": [], "dense": [],
                        "sparsity": []}

    def add(self, counts: NeuroBenchCounts) -> None:
        """One batch: a layer's operations are ACs when every input of the batch was 0 or
        +-1 (NeuroBench decides per call, and a layer runs once per batch); a sample's
        ActivationSparsity is its share of zero outputs."""
        binary = np.asarray(counts.binary, bool)
        self.samples["effective"].append(np.asarray(counts.effective, np.float64))
        self.samples["dense"].append(np.asarray(counts.dense, np.float64))
        self.samples["binary"].append(binary)
        self.samples["batch_binary"].append(np.broadcast_to(binary.all(0), binary.shape))
        silent = np.asarray(counts.silent, np.float64)
        self.samples["sparsity"].append(silent / counts.outputs if counts.outputs
                                        else np.zeros(len(silent)))

    def result(self) -> NeuroBenchMetrics:
        """Every batch's samples, and the model's static metrics now."""
        if not self.samples["effective"]:
            raise ValueError("NeuroBench metrics: no batches were counted")
        joined = {key: np.concatenate(value) for key, value in self.samples.items()}
        ac = joined["batch_binary"]
        return NeuroBenchMetrics(
            layer_names=list(self.layer_names),
            effective_acs=np.where(ac, joined["effective"], 0.0),
            effective_macs=np.where(ac, 0.0, joined["effective"]), dense=joined["dense"],
            binary_input=joined["binary"], activation_sparsity=joined["sparsity"],
            footprint_bytes=footprint_bytes(self.model),
            connection_sparsity=connection_sparsity(self.model))


class NeuroBenchCounter(NeuroBenchTally):
    """Hooks counting NeuroBench's operations and zero activations per frame (one row of
    a layer's input: one sample at one step) on the weight and activation layers of
    `net` (a network from `to_spiking`: its spiking model; or any module).
    `end_batch(batch)` sums each call's frames per sample (sinabs' B * T frames, or B
    frames a step, are sample-major), so windows of steps count as one run."""

    def __init__(self, net: nn.Module):
        super().__init__(net)
        self.weight_layers = [module for module in self.model.modules()
                              if isinstance(module, WEIGHT_LAYERS)]
        # per weight layer, per call this batch: (effective, dense, binary), one per frame
        self.calls = [[] for _ in self.weight_layers]
        self.activations = []  # per activation call: (zeros per frame, outputs per frame)
        self.handles = [layer.register_forward_pre_hook(self._weight_hook(index))
                        for index, layer in enumerate(self.weight_layers)]
        self.handles += [module.register_forward_hook(self._activation_hook)
                         for module in self.model.modules()
                         if isinstance(module, ACTIVATION_LAYERS)]

    def _weight_hook(self, index):
        def count(layer, inputs):
            self.calls[index].append(neurobench_frames(layer, inputs[0].detach()))
        return count

    def _activation_hook(self, module, inputs, output):
        output = (output[0] if isinstance(output, tuple) else output).detach()
        zeros = (output == 0).flatten(1).sum(1, dtype=torch.float64)
        self.activations.append((zeros, output[0].numel()))

    def batch_counts(self, batch: int) -> NeuroBenchCounts:
        """The calls since the last batch as counts per sample of a batch of `batch`
        samples (each call's frames sample-major, as sinabs' B * T frames or B frames a
        step); the calls are forgotten."""
        layers = len(self.calls)
        effective, dense = np.zeros((batch, layers)), np.zeros((batch, layers))
        binary = np.ones((batch, layers), bool)
        for column, calls in enumerate(self.calls):
            for call_effective, call_dense, call_binary in calls:
                effective[:, column] += _per_sample(call_effective, batch).sum(1)
                dense[:, column] += _per_sample(call_dense, batch).sum(1)
                binary[:, column] &= _per_sample(call_binary, batch).all(1)
        zeros = sum((_per_sample(value, batch).sum(1) for value, _ in self.activations),
                    np.zeros(batch))
        outputs = sum(len(value) // batch * size for value, size in self.activations)
        self.discard()
        return NeuroBenchCounts(effective=effective, dense=dense, binary=binary, silent=zeros,
                                outputs=outputs)

    def discard(self) -> None:
        """Forgets the calls since the last batch (a probe through the network, such as
        `convert.time_window`'s, is no test)."""
        for calls in self.calls:
            calls.clear()
        self.activations.clear()

    def end_batch(self, batch: int) -> None:
        """Closes a batch of `batch` samples (`batch_counts`, then `add`)."""
        self.add(self.batch_counts(batch))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def __enter__(self) -> "NeuroBenchCounter":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _per_sample(frames: torch.Tensor, batch: int) -> np.ndarray:
    return frames.reshape(batch, -1).cpu().numpy()


def footprint_bytes(model: nn.Module) -> int:
    """NeuroBench's Footprint: bytes of parameters and buffers, sinabs' neuron states
    for one sample (their first dimension is the batch)."""
    total = sum(parameter.numel() * parameter.element_size()
                for parameter in model.parameters())
    for module in model.modules():
        state = isinstance(module, sinabs.layers.StatefulLayer)
        for buffer in module.buffers(recurse=False):
            numel = buffer.numel()
            if state and buffer.dim() > 1 and buffer.shape[0] > 0:
                numel //= buffer.shape[0]
            total += numel * buffer.element_size()
    return int(total)


def connection_sparsity(model: nn.Module) -> float:
    """NeuroBench's ConnectionSparsity, unrounded: zero weights over all weights of the
    Linear and Conv layers (nan without any)."""
    weights = [module.weight for module in model.modules() if isinstance(module, WEIGHT_LAYERS)]
    count = sum(weight.numel() for weight in weights)
    zeros = sum(int((weight == 0).sum()) for weight in weights)
    return zeros / count if count else float("nan")

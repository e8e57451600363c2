"""How good a trained network is: as an analog network (accuracy, cross-entropy, our
SynOp estimate per layer) and beside its spiking copy on the same samples (sinabs, or the
exact fast simulator, measures the spiking SynOps independently of our estimate).

`spiking_test_row` is the one row every spiking test script writes (the analog and
spiking numbers with their 95% intervals, energy, the simulator, the NIR file and the
per-sample arrays), so that a flag such as --simulator exists once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .energy import (
    DEFAULT_ENERGY_MODEL,
    ENERGY_MODELS,
    EnergyModel,
    add_energy_flag,
    energy_columns,
)
from .io import save_npz
from .simulator import DEFAULT_SIMULATOR, SIMULATORS
from .spiking import SpikingResult, evaluate, to_spiking
from .stats import mean_interval, wilson
from .synops import SynOpCounter, flatten_layers
from .training import EpochStats, autocast_context


class NonFiniteResult(ValueError):
    """A measurement that cannot be right (NaN or infinite): never written as a result."""


@torch.no_grad()
def evaluate_analog(model: nn.Module, loader, device="cpu", transform=None,
                    precision: str = "fp32") -> EpochStats:
    """Accuracy, cross-entropy and estimated SynOps per sample (mean) in eval mode.
    The model is moved to `device` first."""
    device = torch.device(device)
    model.to(device)
    model.eval()
    counter = SynOpCounter(model.modules())
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # cross-entropy, correct
    layer_synops, count = 0.0, 0
    for data, target in loader:
        data = data.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        if transform is not None:
            data = transform(data)
        with autocast_context(device, precision):
            output = model(data).float()
        batch = len(target)
        totals += torch.stack([F.cross_entropy(output, target, reduction="sum").double(),
                               (output.argmax(1) == target).sum().double()])
        layer_synops = layer_synops + counter.layer_synops().double() * batch
        count += batch
    samples = count
    count = max(count, 1)
    cross_entropy, correct = totals.tolist()
    layer_synops = [float(value) / count for value in
                    np.atleast_1d(torch.as_tensor(layer_synops).cpu().numpy())]
    return EpochStats(float("nan"), cross_entropy / count, correct / count, sum(layer_synops),
                      layer_synops, samples=samples)


def layer_names(model: nn.Module) -> List[str]:
    """The names of the counted NeuromorphicReLUs (SynOpCounter's order), as columns:
    dots replaced by underscores, "relu" for a model that is one."""
    names = {id(module): name for name, module in model.named_modules()}
    return [names[id(module)].replace(".", "_") or "relu"
            for module in SynOpCounter(model.modules()).modules]


def weight_layer_of_each_relu(model: nn.Module) -> dict:
    """{counted NeuromorphicReLU's column name: index among the weight layers} for a chain:
    the weight layer right after the ReLU receives its spikes, so sinabs counts the ReLU's
    SynOps there. Matched by the layers' places in the chain, never by list position of
    two counts. An output ReLU counted by the paper's convention (CIFAR-10: its spikes
    once) has no weight layer after it, so no spiking count: None."""
    layers = flatten_layers(model)
    counted = {id(module): name for module, name in
               zip(SynOpCounter(model.modules()).modules, layer_names(model))}
    weight_positions = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Conv2d, nn.Linear))]
    matched = {}
    for position, layer in enumerate(layers):
        if id(layer) in counted:
            following = [i for i in weight_positions if i > position]
            matched[counted[id(layer)]] = weight_positions.index(following[0]) \
                if following else None
    return matched


@dataclass
class Comparison:
    """One model as an analog and as a spiking network on the same samples."""
    analog: EpochStats
    spiking: SpikingResult
    layers: List[str]                    # counted layers' column names
    measured_index: List[int]            # each one's weight layer in `spiking.sample_synops`
    input_layer_index: int | None        # a weight layer fed by the analog input, if any
    row: dict = field(default_factory=dict)

    @property
    def sample_synops(self) -> np.ndarray:
        """Spiking SynOps per sample of the counted layers (the input layer's excluded)."""
        return self.spiking.sample_synops[:, self.measured_index].sum(1)


def compare_analog_and_spiking(model: nn.Module, input_shape: Sequence[int], frame_loader,
                               spike_batches: Iterable, min_v_mem: float | None = None,
                               device="cpu", progress: bool | str = False,
                               bias_rescaling: float = 1.0, simulator: str = DEFAULT_SIMULATOR,
                               threads: int | None = None) -> Comparison:
    """The same samples through the analog model (accuracy, estimated SynOps per layer)
    and through its spiking copy (accuracy, SynOps per layer measured by `simulator`).

    `row` keys: ann_accuracy, ann_synops, snn_accuracy, snn_synops, each accuracy with its
    Wilson interval (_low, _high), snn_synops with its t interval over samples, n_samples,
    simulator, and per counted layer ann_synops_<layer> and snn_synops_<layer> (<layer>:
    the NeuromorphicReLU's name). A weight layer fed by the analog input (no spiking input
    layer) has no SynOps in the paper's count: the simulator's count for it (input value
    times fan-out) is kept apart as snn_input_layer_ops.
    """
    model = model.to(device)
    analog = evaluate_analog(model, frame_loader, device)
    net = to_spiking(model, input_shape, min_v_mem=min_v_mem, bias_rescaling=bias_rescaling)
    spiking = evaluate(net, spike_batches, simulator=simulator, device=device,
                       progress=progress, threads=threads)
    matched = weight_layer_of_each_relu(model)
    names = [name for name in layer_names(model) if matched[name] is not None]
    measured_index = [matched[name] for name in names]
    unmatched = sorted(set(range(spiking.sample_synops.shape[1])) - set(measured_index))
    if len(unmatched) > 1 or (unmatched and unmatched[0] != 0):
        raise RuntimeError(f"weight layers {unmatched} receive spikes of no counted layer: the "
                           "model is not the chain its estimate assumes")
    comparison = Comparison(analog, spiking, names, measured_index,
                            unmatched[0] if unmatched else None)
    per_sample = comparison.sample_synops
    accuracy_interval = wilson(int(spiking.correct.sum()), len(spiking.correct))
    analog_interval = wilson(round(analog.accuracy * analog.samples), analog.samples) \
        if analog.samples else None
    synops_interval = mean_interval(per_sample)
    row = dict(ann_accuracy=analog.accuracy,
               ann_accuracy_low=analog_interval.low if analog_interval else math.nan,
               ann_accuracy_high=analog_interval.high if analog_interval else math.nan,
               ann_synops=analog.synops,
               snn_accuracy=spiking.accuracy, snn_accuracy_low=accuracy_interval.low,
               snn_accuracy_high=accuracy_interval.high,
               snn_synops=float(per_sample.mean()), snn_synops_low=synops_interval.low,
               snn_synops_high=synops_interval.high, n_samples=len(spiking.labels),
               simulator=simulator)
    if comparison.input_layer_index is not None:
        row["snn_input_layer_ops"] = float(
            spiking.sample_synops[:, comparison.input_layer_index].mean())
    estimates = dict(zip(layer_names(model), analog.layer_synops))
    for name, estimated in estimates.items():
        row[f"ann_synops_{name}"] = estimated
    for name, index in zip(names, measured_index):
        row[f"snn_synops_{name}"] = float(spiking.sample_synops[:, index].mean())
    comparison.row = row
    comparison.net = net
    return comparison


# ---------------------------------------------------------------- the spiking-test row
@dataclass(frozen=True)
class SpikingTest:
    """How a script tests spiking networks: the simulator, the energy model, where NIR
    files go (None: none), the device and the CPU threads of the fast simulator."""
    simulator: str = DEFAULT_SIMULATOR
    energy_model: EnergyModel = ENERGY_MODELS[DEFAULT_ENERGY_MODEL]
    nir_dir: Path | None = None
    device: str = "cpu"
    threads: int | None = None


def add_spiking_test_flags(parser) -> None:
    """--simulator, --energy_model and --export_nir, the same in every spiking test script."""
    from .nir_export import add_export_nir_flag
    parser.add_argument(
        "--simulator", choices=SIMULATORS, default=DEFAULT_SIMULATOR,
        help="sinabs (default: the paper's simulator) or fast: the exact event-driven "
             "simulator (synoploss.simulator; the same spikes, 15-28x faster on MNIST-DVS, "
             "benchmarks/spiking_throughput.py)")
    add_energy_flag(parser)
    add_export_nir_flag(parser)


def spiking_test_from_args(args, device) -> SpikingTest:
    """The SpikingTest of a script's flags; the NIR folder is checked for writing now, not
    after the first simulation (ValueError naming --export_nir)."""
    from .runtime import ensure_writable_dir
    nir_dir = ensure_writable_dir(args.export_nir, "--export_nir") if args.export_nir else None
    return SpikingTest(simulator=args.simulator, energy_model=args.energy_model,
                       nir_dir=nir_dir, device=str(device))


def check_finite(row: dict, what: str) -> dict:
    """`row`, or NonFiniteResult naming `what` and the columns that are NaN or infinite (a
    NaN frame or weight makes every number after it NaN; such a row is never written)."""
    bad = [key for key, value in row.items()
           if isinstance(value, (float, np.floating)) and not math.isfinite(value)
           and not key.endswith(("_low", "_high"))]
    if bad:
        raise NonFiniteResult(f"{what}: {', '.join(bad)} not finite (a NaN or infinite value "
                              "in the test data or the checkpoint?); nothing written")
    return row


def spiking_test_row(model: nn.Module, input_shape: Sequence[int], frames, spike_batches,
                     test: SpikingTest, what: str, *, min_v_mem: float | None = None,
                     bias_rescaling: float = 1.0, input_macs: float = 0.0,
                     nir_name: str | None = None, samples_path=None) -> dict:
    """One spiking test: `compare_analog_and_spiking` on `test`'s simulator and device, the
    energy per inference (SynOps x pJ per SynOp, + `input_macs` x pJ per MAC), the NIR file
    `nir_name` in test.nir_dir, and the per-sample arrays (correct, predictions, labels,
    SynOps per layer) in `samples_path` (.npz) for paired comparisons between models.
    `what` names the model in errors. Raises NonFiniteResult for NaN measurements."""
    comparison = compare_analog_and_spiking(
        model, input_shape, frames, spike_batches, min_v_mem=min_v_mem, device=test.device,
        bias_rescaling=bias_rescaling, simulator=test.simulator, threads=test.threads)
    row = dict(comparison.row)
    row.update(energy_columns(test.energy_model, row["snn_synops"], input_macs))
    check_finite(row, what)
    if test.nir_dir is not None and nir_name:
        from .nir_export import export_nir
        path = Path(test.nir_dir) / nir_name
        # a fresh conversion: the tested network's layers hold the last batch's size
        export_nir(to_spiking(model, input_shape, min_v_mem=min_v_mem,
                              bias_rescaling=bias_rescaling), input_shape, path,
                   min_v_mem=min_v_mem)
        row["nir_path"] = str(path)
    if samples_path is not None:
        spiking = comparison.spiking
        save_npz(samples_path, correct=spiking.correct, predictions=spiking.predictions,
                 labels=spiking.labels, synops=comparison.sample_synops,
                 layer_synops=spiking.sample_synops)
    return row


def already_measured(earlier, row: dict, test: SpikingTest, nir_name: str | None = None) -> bool:
    """Whether `earlier` (the results row of the same key, or None) can be kept instead of
    measuring `row` again: made from the same checkpoint (its hash), and with the NIR file
    that `test` asks for already there."""
    from .records import normal
    if earlier is None or normal(earlier.get("model_sha256")) != normal(row.get("model_sha256")):
        return False
    if test.nir_dir is not None and nir_name and not (Path(test.nir_dir) / nir_name).is_file():
        return False
    return True

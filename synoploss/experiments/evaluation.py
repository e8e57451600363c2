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

from ..graph import trace
from ..hardware.chips import CHIPS, chip_fit, quantized_for_chip
from ..hardware.energy import (
    DEFAULT_ENERGY_MODEL,
    ENERGY_MODELS,
    EnergyModel,
    add_energy_flag,
    energy_columns,
)
from ..hardware.nir_export import add_export_nir_flag, export_nir
from ..io import save_npz
from ..spiking import SpikingResult, evaluate, to_spiking
from ..spiking.neurobench_metrics import NEUROBENCH_RULES
from ..spiking.result import DEFAULT_SIMULATOR, SIMULATORS
from ..stats import mean_interval, wilson
from ..synops import SynOpCounter
from .cli import ensure_writable_dir
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
        with autocast_context(device, precision), counter.record() as synops:
            output = model(data).float()
        batch = len(target)
        totals += torch.stack([F.cross_entropy(output, target, reduction="sum").double(),
                               (output.argmax(1) == target).sum().double()])
        layer_synops = layer_synops + synops.layer_synops().double() * batch
        count += batch
    samples = count
    count = max(count, 1)
    cross_entropy, correct = totals.tolist()
    layer_synops = [float(value) / count for value in
                    np.atleast_1d(torch.as_tensor(layer_synops).cpu().numpy())]
    return EpochStats(float("nan"), cross_entropy / count, correct / count, sum(layer_synops),
                      layer_synops, samples=samples)


def counted_layers(model: nn.Module) -> List[str]:
    """The module names of the counted NeuromorphicReLUs, in SynOpCounter's order."""
    names = {id(module): name for name, module in model.named_modules()}
    return [names[id(module)] for module in SynOpCounter(model).modules]


def column(name: str) -> str:
    """A layer's name as a column suffix: dots as underscores, "relu" for a bare model."""
    return name.replace(".", "_") or "relu"


@dataclass
class Comparison:
    """One model as an analog and as a spiking network on the same samples."""
    analog: EpochStats
    spiking: SpikingResult
    counted: List[int]            # the weight layers (columns of sample_synops) of the count
    input_layers: List[int]       # weight layers fed by the analog input (not counted)
    row: dict = field(default_factory=dict)
    net: object = None

    @property
    def sample_synops(self) -> np.ndarray:
        """Spiking SynOps per sample of the counted layers (the input layers' excluded)."""
        return self.spiking.sample_synops[:, self.counted].sum(1)


def compare_analog_and_spiking(model: nn.Module, input_shape: Sequence[int], frame_loader,
                               spike_batches: Iterable, min_v_mem: float | None = None,
                               device="cpu", progress: bool | str = False,
                               bias_rescaling: float = 1.0, simulator: str = DEFAULT_SIMULATOR,
                               threads: int | None = None, neurobench: bool = False
                               ) -> Comparison:
    """The same samples through the analog model (accuracy, estimated SynOps per layer)
    and through its spiking copy (accuracy, SynOps per weight layer measured by
    `simulator`; with `neurobench`, NeuroBench's metrics of the same pass, `neurobench_*`
    columns: `neurobench_columns`).

    `row` keys: ann_accuracy, ann_synops, snn_accuracy, snn_synops, each accuracy with its
    Wilson interval (_low, _high), snn_synops with its t interval over samples, n_samples,
    simulator; per counted layer ann_synops_<layer> (<layer>: the NeuromorphicReLU's name)
    and, where its spikes reach weight layers no other counted layer reaches,
    snn_synops_<layer>: the measurement of those weight layers, matched by name through the
    model's graph (`graph.trace`), never by position. A weight layer fed by the analog
    input has no SynOps in the paper's count: the simulator's count for it (input value
    times fan-out) is kept apart as snn_input_layer_ops.
    """
    model = model.to(device)
    analog = evaluate_analog(model, frame_loader, device)
    net = to_spiking(model, input_shape, min_v_mem=min_v_mem, bias_rescaling=bias_rescaling)
    spiking = evaluate(net, spike_batches, simulator=simulator, device=device,
                       progress=progress, threads=threads, neurobench=neurobench)
    measured = {name: index for index, name in enumerate(spiking.layer_names)}
    feeds = trace(model).feeds
    relus = counted_layers(model)
    fed_by = {}
    for relu in relus:
        for layer in feeds.get(relu, []):
            fed_by.setdefault(layer, []).append(relu)
    counted = sorted(measured[layer] for layer in fed_by)
    input_layers = sorted(index for name, index in measured.items() if name not in fed_by)
    comparison = Comparison(analog, spiking, counted, input_layers, net=net)
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
    if input_layers:
        row["snn_input_layer_ops"] = float(spiking.sample_synops[:, input_layers].sum(1).mean())
    for relu, estimated in zip(relus, analog.layer_synops, strict=True):
        row[f"ann_synops_{column(relu)}"] = estimated
        layers = feeds.get(relu, [])
        if layers and all(fed_by[layer] == [relu] for layer in layers):
            row[f"snn_synops_{column(relu)}"] = float(
                spiking.sample_synops[:, [measured[layer] for layer in layers]].sum(1).mean())
    if spiking.neurobench is not None:
        row.update(neurobench_columns(spiking.neurobench))
    comparison.row = row
    return comparison


def neurobench_columns(metrics) -> dict:
    """NeuroBench's metrics as columns of a results row, per sample (means over the test
    samples), under the version of the rules they follow: Effective_ACs, Effective_MACs
    and Dense summed over the weight layers, ActivationSparsity, Footprint (bytes) and
    ConnectionSparsity (`synoploss.spiking.neurobench_metrics`: how they are counted and
    how they differ from the SynOps)."""
    summary = metrics.summary()
    operations = summary["SynapticOperations"]
    return dict(neurobench_rules=metrics.rules,
                neurobench_effective_acs=operations["Effective_ACs"],
                neurobench_effective_macs=operations["Effective_MACs"],
                neurobench_dense=operations["Dense"],
                neurobench_activation_sparsity=summary["ActivationSparsity"],
                neurobench_footprint_bytes=summary["Footprint"],
                neurobench_connection_sparsity=summary["ConnectionSparsity"])


# ---------------------------------------------------------------- the spiking-test row
@dataclass(frozen=True)
class SpikingTestSettings:
    """How a script tests spiking networks: the simulator, the energy model, where NIR
    files go (None: none), the device and the CPU threads of the fast simulator."""
    simulator: str = DEFAULT_SIMULATOR
    energy_model: EnergyModel = ENERGY_MODELS[DEFAULT_ENERGY_MODEL]
    nir_dir: Path | None = None
    device: str = "cpu"
    threads: int | None = None
    chip: str | None = None  # also test the network as the chip computes it (chips.py)
    latency_s: float | None = None  # the time of an inference, for a static power term

    def output_settings(self) -> dict:
        """The options that change a row's columns, as the row records them: the energy
        model (its name, pJ values and static power), the latency given for its static
        term, the chip (chip_* columns, or none), and the NeuroBench rules the neurobench_*
        columns follow (a row without them, or of other rules, is measured again)."""
        return dict(energy_model=self.energy_model.name,
                    pj_per_synop=self.energy_model.pj_per_synop,
                    pj_per_mac=self.energy_model.pj_per_mac,
                    static_mw=self.energy_model.static_mw, latency_s=self.latency_s,
                    chip=self.chip, neurobench_rules=NEUROBENCH_RULES)

    def energy_seconds(self, stream_seconds: float | None) -> float | None:
        """The time an inference occupies the chip: --latency when given, else the
        chunks' span in the stream (None for a static input)."""
        return self.latency_s if self.latency_s is not None else stream_seconds

    def rerun_checks(self, nir_name: str | None = None) -> dict:
        """What a results row already measured must match to be kept (`ResultsFile.kept`):
        the options that change its columns (`output_settings`: a row of another energy
        model or chip is measured again, not kept without its columns) and the NIR file
        asked for, which must be there."""
        needs = [Path(self.nir_dir) / nir_name] if self.nir_dir is not None and nir_name else []
        return dict(equal=self.output_settings(), needs=needs)


def add_spiking_test_flags(parser) -> None:
    """--simulator, --energy_model, --export_nir and --chip, the same in every spiking test
    script."""
    parser.add_argument(
        "--simulator", choices=SIMULATORS, default=DEFAULT_SIMULATOR,
        help="sinabs (default: the paper's simulator) or fast: the exact event-driven "
             "simulator (synoploss.spiking.fast): the same spikes, many times faster; "
             "benchmarks/spiking_throughput.py measures by how much")
    add_energy_flag(parser, latency=True)
    add_export_nir_flag(parser)
    parser.add_argument(
        "--chip", choices=sorted(CHIPS), default=None,
        help="also check whether each network fits the chip (memory per layer and core, "
             "kernel, stride, pooling limits) and test it with the chip's 8-bit weights and "
             "thresholds: chip_* columns (docs/own_network.md). A check on paper and an "
             "emulation of the chip's arithmetic, not the chip")


def spiking_test_from_args(args, device, stream_time: bool = True) -> SpikingTestSettings:
    """The SpikingTestSettings of a script's flags, checked now, not after the first
    simulation: the NIR folder writable (ValueError naming --export_nir), and a static
    power term with a time to count it for (`stream_time`: the data are chunks of an event
    stream, whose span is that time; otherwise --latency must be given)."""
    nir_dir = ensure_writable_dir(args.export_nir, "--export_nir") if args.export_nir else None
    latency = getattr(args, "latency", None)
    if args.energy_model.static_mw > 0 and latency is None and not stream_time:
        raise ValueError(f"--energy_model {args.energy_model.name} counts the chip's idle power "
                         "for the time an inference takes; a static input has no time in a "
                         "stream: give it with --latency SECONDS")
    return SpikingTestSettings(simulator=args.simulator, energy_model=args.energy_model,
                               nir_dir=nir_dir, device=str(device),
                               chip=getattr(args, "chip", None), latency_s=latency)


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
                     settings: SpikingTestSettings, what: str, *, min_v_mem: float | None = None,
                     bias_rescaling: float = 1.0, input_macs: float = 0.0,
                     nir_name: str | None = None, samples_path=None,
                     stream_seconds: float | None = None) -> dict:
    """One spiking test: `compare_analog_and_spiking` on `settings`' simulator and device, the
    energy per inference (`energy_columns`: SynOps x pJ per SynOp + `input_macs` x pJ per
    MAC, + the chip's idle power for settings.latency_s or else `stream_seconds`, the mean span
    of the test chunks in their stream), the NIR file
    `nir_name` in settings.nir_dir, and the per-sample arrays (correct, predictions, labels,
    SynOps per layer) in `samples_path` (.npz) for paired comparisons between models.
    `what` names the model in errors. Raises NonFiniteResult for NaN measurements."""
    comparison = compare_analog_and_spiking(
        model, input_shape, frames, spike_batches, min_v_mem=min_v_mem, device=settings.device,
        bias_rescaling=bias_rescaling, simulator=settings.simulator, threads=settings.threads,
        neurobench=True)
    row = dict(comparison.row)
    row.update(energy_columns(settings.energy_model, row["snn_synops"], input_macs,
                              settings.energy_seconds(stream_seconds)))
    check_finite(row, what)
    if settings.nir_dir is not None and nir_name:
        path = Path(settings.nir_dir) / nir_name
        # a fresh conversion: the tested network's layers hold the last batch's size
        export_nir(to_spiking(model, input_shape, min_v_mem=min_v_mem,
                              bias_rescaling=bias_rescaling), input_shape, path,
                   min_v_mem=min_v_mem)
        row["nir_path"] = str(path)
    if settings.chip is not None:
        row.update(chip_columns(model, input_shape, frames, spike_batches, settings, min_v_mem,
                                bias_rescaling))
    if samples_path is not None:
        spiking, workload = comparison.spiking, comparison.spiking.neurobench
        save_npz(samples_path, correct=spiking.correct, predictions=spiking.predictions,
                 labels=spiking.labels, synops=comparison.sample_synops,
                 layer_synops=spiking.sample_synops, layer_names=np.array(spiking.layer_names),
                 # NeuroBench's counts per sample and weight layer (docs/neurobench.md)
                 neurobench_layer_names=np.array(workload.layer_names),
                 neurobench_effective_acs=workload.effective_acs,
                 neurobench_effective_macs=workload.effective_macs,
                 neurobench_dense=workload.dense, neurobench_binary_input=workload.binary_input,
                 neurobench_activation_sparsity=workload.activation_sparsity)
    return row


def chip_columns(model, input_shape, frames, spike_batches, settings: SpikingTestSettings,
                 min_v_mem=None, bias_rescaling: float = 1.0) -> dict:
    """chip_* columns: whether the network fits `settings.chip`, the cores it takes, what does
    not fit, and the spiking accuracy and SynOps with the chip's 8-bit weights."""
    chip = CHIPS[settings.chip]
    fit = chip_fit(model, input_shape, chip)
    quantized = compare_analog_and_spiking(
        quantized_for_chip(model, input_shape, chip), input_shape, frames, spike_batches,
        min_v_mem=min_v_mem, device=settings.device, bias_rescaling=bias_rescaling,
        simulator=settings.simulator, threads=settings.threads).row
    return dict(chip=chip.name, chip_fits=fit.fits, chip_cores=len(fit.cores),
                chip_problems="; ".join(fit.problems),
                chip_snn_accuracy=quantized["snn_accuracy"],
                chip_snn_accuracy_low=quantized["snn_accuracy_low"],
                chip_snn_accuracy_high=quantized["snn_accuracy_high"],
                chip_snn_synops=quantized["snn_synops"])

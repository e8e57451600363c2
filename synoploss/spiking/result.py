"""What the simulators return, shared by both (so that neither imports the other): one
batch (`BatchResult`, with NeuroBench's raw counts `NeuroBenchCounts` when asked) and a
whole test (`SpikingResult`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np
import torch

SIMULATORS = ("sinabs", "fast")
DEFAULT_SIMULATOR = "sinabs"  # the paper's simulator


@dataclass
class SpikingResult:
    """What a spiking test measured, per sample: predictions, labels, SynOps per weight
    layer (`sample_synops`, samples x layers, as sinabs.hooks counts them), with
    `keep_output` the output summed over time, and with `neurobench` NeuroBench's
    metrics of the same pass."""
    predictions: np.ndarray
    labels: np.ndarray
    sample_synops: np.ndarray  # (samples, weight layers)
    output_spikes: np.ndarray | None = None
    layer_names: List[str] | None = None  # the weight layers, by the model's names
    # with evaluate(..., neurobench=True): NeuroBench's metrics of the same pass, a
    # `neurobench_metrics.NeuroBenchMetrics` (not imported here: that module imports this)
    neurobench: object | None = None

    @property
    def layer_synops(self) -> List[float]:
        """SynOps per sample of every weight layer (means over samples)."""
        return [float(value) for value in self.sample_synops.mean(0)]

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.labels) else float("nan")

    @property
    def synops(self) -> float:
        return float(sum(self.layer_synops))


@dataclass
class NeuroBenchCounts:
    """One batch's NeuroBench counts per sample, as either simulator measures them, before
    NeuroBench's per-batch AC/MAC decision (made in one place for both simulators:
    `neurobench_metrics.NeuroBenchTally.add`)."""
    effective: np.ndarray  # (B, weight layers): non-zero inputs x non-zero-weight connections
    dense: np.ndarray      # (B, weight layers): every connection at every step
    binary: np.ndarray     # (B, weight layers): whether all of a sample's inputs were 0 or +-1
    silent: np.ndarray     # (B,): zero outputs, (neuron, step) pairs, of the activation layers
    outputs: int           # (neuron, step) outputs of the activation layers, per sample


@dataclass
class BatchResult:
    """One batch through a simulator: the network's output per step (B, T, n_out), as
    the sinabs network returns it; SynOps per sample and weight layer (B, layers), in the
    network's order; the fast simulator also gives the spikes per sample and spiking
    layer (B, layers; None from sinabs)."""
    output: torch.Tensor
    layer_synops: np.ndarray
    spike_counts: np.ndarray | None = None
    neurobench: NeuroBenchCounts | None = None  # when the simulation was asked for them


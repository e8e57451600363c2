"""What the simulators return, shared by both (so that neither imports the other): one
batch (`BatchResult`) and a whole test (`SpikingResult`)."""
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
    layer (`sample_synops`, samples x layers, as sinabs.hooks counts them), and with
    `keep_output` the output summed over time."""
    predictions: np.ndarray
    labels: np.ndarray
    sample_synops: np.ndarray  # (samples, weight layers)
    output_spikes: np.ndarray | None = None
    layer_names: List[str] | None = None  # the weight layers, by the model's names

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
class BatchResult:
    """One batch through a simulator: the network's output per step (B, T, n_out), as
    the sinabs network returns it; SynOps per sample and weight layer (B, layers), in the
    network's order; the fast simulator also gives the spikes per sample and spiking
    layer (B, layers; None from sinabs)."""
    output: torch.Tensor
    layer_synops: np.ndarray
    spike_counts: np.ndarray | None = None

"""How good a trained network is: as an analog network (accuracy, cross-entropy, our
SynOp estimate per layer) and beside its sinabs spiking copy on the same samples (sinabs
measures the spiking SynOps independently of our estimate, so the two can be compared)."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .spiking import evaluate_spiking, to_spiking
from .synops import SynOpCounter
from .training import EpochStats, autocast_context


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
    count = max(count, 1)
    cross_entropy, correct = totals.tolist()
    layer_synops = [float(value) / count for value in
                    np.atleast_1d(torch.as_tensor(layer_synops).cpu().numpy())]
    return EpochStats(float("nan"), cross_entropy / count, correct / count, sum(layer_synops),
                      layer_synops)


def compare_analog_and_spiking(model: nn.Module, input_shape: Sequence[int], frame_loader,
                               spike_batches: Iterable, min_v_mem: float | None = None,
                               device="cpu", progress: bool | str = False,
                               bias_rescaling: float = 1.0) -> dict:
    """The same samples through the analog model (accuracy, estimated SynOps per layer)
    and through its sinabs spiking copy (accuracy, SynOps per layer measured by sinabs).

    Keys: ann_accuracy, ann_synops, snn_accuracy, snn_synops, and per counted layer
    ann_synops_<layer> and snn_synops_<layer> (<layer>: the NeuromorphicReLU's name).
    A network whose first weight layer gets the analog input directly (no spiking input
    layer) has no SynOps there: sinabs' count for it (input value times fan-out) is kept
    apart as snn_input_layer_ops, as the paper excludes the input layer.
    """
    model = model.to(device)
    analog = evaluate_analog(model, frame_loader, device)
    net = to_spiking(model, input_shape, min_v_mem=min_v_mem, bias_rescaling=bias_rescaling)
    spiking = evaluate_spiking(net, spike_batches, device=device, progress=progress)
    counted = SynOpCounter(model.modules()).modules
    names = {id(module): name for name, module in model.named_modules()}
    layer_names = [names[id(module)].replace(".", "_") or "relu" for module in counted]
    measured = spiking.layer_synops
    row = dict(ann_accuracy=analog.accuracy, ann_synops=analog.synops,
               snn_accuracy=spiking.accuracy)
    if len(measured) == len(layer_names) + 1:
        row["snn_input_layer_ops"] = measured[0]
        measured = measured[1:]
    if len(measured) != len(layer_names):
        raise RuntimeError(f"sinabs counted {len(measured)} layers, the estimate "
                           f"{len(layer_names)}: the model is not a plain chain")
    row["snn_synops"] = float(sum(measured))
    for name, estimated, value in zip(layer_names, analog.layer_synops, measured):
        row[f"ann_synops_{name}"] = estimated
        row[f"snn_synops_{name}"] = value
    return row

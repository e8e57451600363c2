"""Training and analog evaluation shared by the experiment scripts."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .synops import SynOpCounter


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str | None) -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


@dataclass
class EpochStats:
    loss: float
    cross_entropy: float
    accuracy: float
    synops: float
    layer_synops: list | None = None  # per counted layer, per sample (evaluation only)


def train_epoch(model: nn.Module, loader, optimizer, synop_loss=None, device="cpu",
                description: str = "train", progress: bool = True,
                transform=None) -> EpochStats:
    """One epoch of cross-entropy (+ SynOp loss). Raises NonFiniteLossError on NaN/inf."""
    model.train()
    counter = SynOpCounter(model.modules())
    totals = dict(loss=0.0, ce=0.0, correct=0, synops=0.0, count=0)
    bar = tqdm(loader, desc=description, leave=False, disable=not progress)
    for data, target in bar:
        data, target = data.to(device), target.to(device)
        if transform is not None:
            data = transform(data)
        optimizer.zero_grad()
        output = model(data)
        cross_entropy = F.cross_entropy(output, target)
        loss = cross_entropy + synop_loss() if synop_loss is not None else cross_entropy
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{description}: loss became {loss.item()} "
                                     f"(cross-entropy {cross_entropy.item()})")
        loss.backward()
        optimizer.step()
        batch = len(target)
        totals["loss"] += loss.item() * batch
        totals["ce"] += cross_entropy.item() * batch
        totals["correct"] += (output.argmax(1) == target).sum().item()
        totals["synops"] += counter().item() * batch
        totals["count"] += batch
        bar.set_postfix(loss=f"{totals['loss'] / totals['count']:.3f}",
                        acc=f"{totals['correct'] / totals['count']:.3f}",
                        synops=f"{totals['synops'] / totals['count']:.3g}")
    count = max(totals["count"], 1)
    return EpochStats(totals["loss"] / count, totals["ce"] / count, totals["correct"] / count,
                      totals["synops"] / count)


@torch.no_grad()
def evaluate_analog(model: nn.Module, loader, device="cpu", transform=None) -> EpochStats:
    """Accuracy, cross-entropy and estimated SynOps per sample (mean) in eval mode."""
    model.eval()
    counter = SynOpCounter(model.modules())
    correct, cross_entropy, layer_synops, count = 0, 0.0, 0.0, 0
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        if transform is not None:
            data = transform(data)
        output = model(data)
        batch = len(target)
        cross_entropy += F.cross_entropy(output, target, reduction="sum").item()
        correct += (output.argmax(1) == target).sum().item()
        layer_synops = layer_synops + counter.layer_synops().double().cpu().numpy() * batch
        count += batch
    count = max(count, 1)
    layer_synops = [float(value) / count for value in np.atleast_1d(layer_synops)]
    return EpochStats(float("nan"), cross_entropy / count, correct / count, sum(layer_synops),
                      layer_synops)


def load_state(model: nn.Module, path) -> nn.Module:
    """Load a checkpoint (a state dict, or a dict with 'state_dict') into `model`.

    Errors name the file and what does not fit, e.g. a checkpoint of another network.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({error})") from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
                   for key in set(expected) & set(state)
                   if tuple(state[key].shape) != tuple(expected[key].shape)]
    if missing or unexpected or wrong_shape:
        details = "; ".join(part for part in (
            f"missing {missing}" if missing else "",
            f"unexpected {unexpected}" if unexpected else "",
            f"wrong shapes {sorted(wrong_shape)}" if wrong_shape else "") if part)
        raise ValueError(f"{path}: checkpoint does not fit {type(model).__name__} ({details})")
    model.load_state_dict(state)
    return model


def format_target(value: float) -> str:
    """A compact, file-name-safe label for a SynOp target (e.g. 1.58e+05)."""
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.3g}"


def fit(model: nn.Module, loader, n_epochs: int, lr: float, synop_loss=None, device="cpu",
        lr_schedule: str = "constant", weight_decay: float = 0.0, milestones=(),
        description: str = "train", progress: bool = True, transform=None,
        step_size: int = 10, gamma: float = 0.1, early_stop_tol: float | None = None,
        min_epochs: int = 0, on_epoch=None) -> EpochStats:
    """Adam over up to `n_epochs`. lr_schedule: "constant"; "cosine" (to 0 over the
    epochs); "milestones" (x0.1 at the `milestones` epochs); "steplr" (x`gamma` every
    `step_size` epochs). With `early_stop_tol`, stops once the epoch loss changes by less
    than that fraction, but not before `min_epochs` (a network still at its initial loss
    plateau would stop at once). `on_epoch(epoch, stats)` is called after every epoch.

    Returns the last epoch's statistics. Raises NonFiniteLossError on NaN/inf losses.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if lr_schedule == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(n_epochs, 1))
    elif lr_schedule == "milestones":
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), 0.1)
    elif lr_schedule == "steplr":
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)
    elif lr_schedule == "constant":
        schedule = None
    else:
        raise ValueError(f"unknown lr schedule {lr_schedule!r}")
    stats = previous = None
    for epoch in range(n_epochs):
        stats = train_epoch(model, loader, optimizer, synop_loss, device,
                            description=f"{description} epoch {epoch + 1}/{n_epochs}",
                            progress=progress, transform=transform)
        if schedule is not None:
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, stats)
        if early_stop_tol is not None and previous is not None and epoch + 1 >= min_epochs \
                and abs(previous - stats.loss) <= early_stop_tol * abs(previous):
            break
        previous = stats.loss
    return stats

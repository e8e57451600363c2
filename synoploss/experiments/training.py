"""The training loop shared by the experiment scripts: Adam with the paper's learning-rate
schedules, the SynOp loss, bf16 autocast, and the checks that a trained model is a result."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import append_row
from ..progress import progress_bar
from ..synops import SynOpCounter


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


PRECISIONS = ("fp32", "bf16")


def autocast_context(device, precision: str = "fp32"):
    """torch.autocast for `precision` "bf16" (convolutions and matmuls in bfloat16), a
    no-op for "fp32". NeuromorphicReLU floors and counts SynOps in float32 under it, so
    the quantized activations and the SynOp estimate stay exact integers and sums
    (tests/test_quantize.py checks it)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@dataclass
class EpochStats:
    loss: float
    cross_entropy: float
    accuracy: float
    synops: float
    layer_synops: list | None = None  # per counted layer, per sample (evaluation only)
    samples: int = 0                  # how many samples the numbers are over


def train_epoch(model: nn.Module, loader, optimizer, synop_loss=None, device="cpu",
                description: str = "train", progress: bool = True,
                transform=None, precision: str = "fp32") -> EpochStats:
    """One epoch of cross-entropy (+ SynOp loss). Raises NonFiniteLossError on NaN/inf.

    Totals stay on the device and are read once per epoch (and for the progress bar now
    and then): a `.item()` per step would make the GPU wait for the CPU every step.
    """
    device = torch.device(device)
    model.to(device)
    model.train()
    counter = SynOpCounter(model.modules())
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss, ce, correct, synops
    count = 0
    bar = progress_bar(loader, desc=description, leave=False, disable=not progress)
    for step, (data, target) in enumerate(bar):
        data = data.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        if transform is not None:
            data = transform(data)
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, precision), counter.record() as synops:
            output = model(data)
            cross_entropy = F.cross_entropy(output.float(), target)
            loss = cross_entropy + synop_loss(synops) if synop_loss is not None \
                else cross_entropy
        loss.backward()
        try:
            optimizer.step()
        except RuntimeError as error:  # e.g. an lr beyond float32: the sweep must go on
            if "overflow" not in str(error):
                raise
            raise NonFiniteLossError(f"{description}: the optimiser step overflowed "
                                     f"({error}); lower the learning rate") from error
        batch = len(target)
        count += batch
        totals += torch.stack([loss.detach().double() * batch,
                               cross_entropy.detach().double() * batch,
                               (output.argmax(1) == target).sum().double(),
                               synops.total().detach().double() * batch])
        if progress and step % 20 == 0:
            values = totals.tolist()
            bar.set_postfix(loss=f"{values[0] / count:.3f}", acc=f"{values[2] / count:.3f}",
                            synops=f"{values[3] / count:.3g}")
    # NaN/inf anywhere in the epoch makes the sums non-finite: checked here, once
    loss_sum, ce_sum, correct, synops = totals.tolist()
    if not math.isfinite(loss_sum) or not math.isfinite(ce_sum):
        raise NonFiniteLossError(f"{description}: loss became {loss_sum / max(count, 1)} "
                                 f"(cross-entropy {ce_sum / max(count, 1)})")
    samples, count = count, max(count, 1)
    return EpochStats(loss_sum / count, ce_sum / count, correct / count, synops / count,
                      samples=samples)


WEIGHT_LIMIT = 1e4  # trained weights of these networks are of order 0.01-10


@torch.no_grad()
def divergence(model: nn.Module, limit: float = WEIGHT_LIMIT) -> str | None:
    """Why the trained model cannot be a result, or None: a weight that is not finite or
    larger than `limit` in size (a learning rate far too large blows the weights up and
    leaves every ReLU silent, at a cross-entropy of exactly ln 10 and no NaN to see). A
    network that is merely silent, e.g. after too low a SynOp target, is a result."""
    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter).all():
            return f"diverged: {name} has non-finite values"
        largest = parameter.abs().max().item() if parameter.numel() else 0.0
        if largest > limit:
            return (f"diverged: |{name}| reaches {largest:.3g} (trained weights stay far "
                    f"below {limit:g}); lower --lr")
    return None


def fit(model: nn.Module, loader, n_epochs: int, lr: float, synop_loss=None, device="cpu",
        lr_schedule: str = "constant", weight_decay: float = 0.0, milestones=(),
        description: str = "train", progress: bool = True, transform=None,
        step_size: int = 10, gamma: float = 0.1, early_stop_tol: float | None = None,
        min_epochs: int = 0, on_epoch=None, precision: str = "fp32") -> EpochStats:
    """Adam over up to `n_epochs`. lr_schedule: "constant"; "cosine" (to 0 over the
    epochs); "milestones" (x0.1 at the `milestones` epochs); "steplr" (x`gamma` every
    `step_size` epochs). With `early_stop_tol`, stops once the epoch loss changes by less
    than that fraction, but not before `min_epochs` (a network still at its initial loss
    plateau would stop at once). `on_epoch(epoch, stats)` is called after every epoch.

    Returns the last epoch's statistics. Raises NonFiniteLossError on NaN/inf losses.
    The model is moved to `device` first; `precision` "bf16" trains under bf16 autocast.
    """
    model.to(torch.device(device))
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
                            progress=progress, transform=transform, precision=precision)
        if schedule is not None:
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, stats)
        if early_stop_tol is not None and previous is not None and epoch + 1 >= min_epochs \
                and abs(previous - stats.loss) <= early_stop_tol * abs(previous):
            break
        previous = stats.loss
    return stats


# TensorBoard tag of each epoch-log column, as the original's scalars (its "target_loss"
# is the cross-entropy, its "synops_loss" the SynOp term); test_* when measured
TENSORBOARD_TAGS = {"train_accuracy": "accuracy_training", "train_loss": "loss",
                    "train_synops": "synops", "cross_entropy": "target_loss",
                    "synop_loss": "synops_loss", "test_accuracy": "test_accuracy",
                    "test_synops": "test_synops"}


class EpochLog:
    """One row per epoch of one training run in epoch_log.csv (keyed by `run` and epoch,
    so a rerun replaces its rows), and with `tensorboard_dir` the original's scalars in
    <tensorboard_dir>/<run>. Call it as fit's `on_epoch`; `fixed` columns go in every row;
    `key`: the columns that identify a row (CIFAR-10's log: round and epoch)."""

    def __init__(self, path, run: str, tensorboard_dir=None, key=("run", "epoch"), **fixed):
        self.path, self.run, self.fixed, self.key = path, run, fixed, list(key)
        self.writer = None
        if tensorboard_dir is not None:
            # imported here: tensorboard is only needed with --tensorboard
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:
                raise ImportError("--tensorboard needs tensorboard: pip install "
                                  "'synoploss[tensorboard]', or pip install -r "
                                  "requirements.txt") from error
            self.writer = SummaryWriter(log_dir=str(Path(tensorboard_dir) / run))

    def __call__(self, epoch: int, stats: EpochStats, **measured) -> dict:
        row = dict(run=self.run, epoch=epoch + 1, train_accuracy=stats.accuracy,
                   train_loss=stats.loss, cross_entropy=stats.cross_entropy,
                   synop_loss=stats.loss - stats.cross_entropy, train_synops=stats.synops,
                   **measured, **self.fixed)
        append_row(self.path, row, key=self.key)
        if self.writer is not None:
            for column, tag in TENSORBOARD_TAGS.items():
                if row.get(column) is not None:
                    self.writer.add_scalar(tag, row[column], epoch)
            self.writer.flush()
        return row

    def close(self):
        if self.writer is not None:
            self.writer.close()

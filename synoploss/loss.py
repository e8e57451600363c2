"""The SynOp loss: a penalty that pushes a network's synaptic operations to a target."""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn as nn

from .synops import SynOpCounter


class SynOpLoss(nn.Module):
    """Penalty on the SynOps per sample of one forward pass, recorded by `counter`:
    `with counter.record() as synops: output = model(data)`, then `penalty(synops)`.

    Exactly one of:
    - `target`: the paper's relative squared form `((S - S*) / S*)^2`, scale-free so it
      needs no weight against the cross-entropy. With `one_sided`, only S above S* is
      penalised. A list of targets (one per layer of the counter) sums the per-layer
      penalties.
    - `alpha`: the L1 form alpha * S.

    `weight` multiplies the target form (1: the paper's, unweighted). A round settles where
    the penalty's gradient balances the cross-entropy's, above its target when the
    weight is too small to pull it there (docs/experiments.md).

    Args:
        counter: the `SynOpCounter` of the model being trained.
        target: S*, SynOps per sample (or one per counted layer).
        alpha: the L1 form's weight, instead of a target.
        one_sided: penalise only SynOps above the target.
        reduce: applied to the per-layer SynOps first (e.g. a mean over processes).
        weight: multiplies the target form.

    Calling it on a recording (`counter.record()`'s value) returns the penalty, a
    differentiable scalar; `synop_loss` is the target form as a function.
    """

    def __init__(self, counter: SynOpCounter, target: Union[float, Sequence[float], None] = None,
                 alpha: float | None = None, one_sided: bool = False, reduce=None,
                 weight: float = 1.0):
        super().__init__()
        if (target is None) == (alpha is None):
            raise ValueError("SynOpLoss needs exactly one of `target` (relative squared "
                             "penalty) or `alpha` (L1 penalty), got "
                             f"target={target!r}, alpha={alpha!r}")
        if alpha is not None and not alpha >= 0:
            raise ValueError(f"SynOpLoss: alpha must be >= 0, got {alpha!r}")
        self.per_layer = target is not None and not isinstance(target, (int, float))
        if target is not None:
            targets = list(target) if self.per_layer else [target]
            for value in targets:
                if not value > 0:
                    raise ValueError(f"SynOpLoss: every target must be > 0, got {value!r}")
            if self.per_layer and len(targets) != len(counter):
                raise ValueError(f"SynOpLoss: {len(targets)} targets given for "
                                 f"{len(counter)} counted layers")
            self.register_buffer("target", torch.tensor(targets, dtype=torch.float32))
        else:
            self.target = None
        if one_sided and target is None:
            raise ValueError("SynOpLoss: one_sided applies to the target form only")
        if not weight > 0 or (alpha is not None and weight != 1):
            raise ValueError(f"SynOpLoss: weight must be > 0 and goes with `target` (alpha is "
                             f"the L1 form's own weight), got weight={weight!r}")
        self.weight = float(weight)
        self.counter = counter
        self.alpha = alpha
        self.one_sided = one_sided
        self.reduce = reduce

    def forward(self, synops) -> torch.Tensor:
        """The penalty of the recording `synops` (SynOpCounter.record's)."""
        per_layer = synops.layer_synops()
        if self.reduce is not None:
            per_layer = self.reduce(per_layer)
        if self.alpha is not None:
            return self.alpha * per_layer.sum()
        synops = per_layer if self.per_layer else per_layer.sum().reshape(1)
        return synop_loss(synops, self.target.to(synops.device), self.one_sided, self.weight)


def synop_loss(synops: torch.Tensor, target: Union[float, Sequence[float], torch.Tensor],
               one_sided: bool = False, weight: float = 1.0) -> torch.Tensor:
    """The paper's SynOp loss as a plain function: `weight * sum(((S - S*) / S*)^2)`.

    Args:
        synops: S, SynOps per sample: a scalar (the model's total) or one value per layer
            (then `target` has one per layer too), e.g. `recording.layer_synops()`.
        target: S*, positive.
        one_sided: penalise only S above S*.
        weight: multiplies the penalty (1: the paper's).

    Returns:
        A differentiable scalar tensor.
    """
    synops = torch.as_tensor(synops).reshape(-1)
    target = torch.as_tensor(target, dtype=synops.dtype, device=synops.device).reshape(-1)
    if not bool((target > 0).all()):
        raise ValueError(f"synop_loss: every target must be > 0, got {target.tolist()}")
    if synops.numel() != target.numel() and target.numel() != 1:
        raise ValueError(f"synop_loss: {target.numel()} targets for {synops.numel()} SynOp "
                         "values")
    relative = (synops - target) / target
    if one_sided:
        relative = relative.clamp(min=0)
    return weight * (relative ** 2).sum()

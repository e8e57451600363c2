"""Data-based weight normalisation (Rueckauer et al. 2017) for bias-free ReLU chains."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch
import torch.nn as nn

from .quantize import NeuromorphicReLU
from .synops import flatten_layers


@torch.no_grad()
def activation_percentiles(model: nn.Module, frames: torch.Tensor, percentile: float = 99.99,
                           batch_size: int = 256) -> List[float]:
    """The `percentile` of every NeuromorphicReLU's output (after the first weight layer)
    over `frames`, in chain order."""
    layers = _relus_after_weights(model)
    outputs = {id(layer): [] for layer in layers}
    hooks = [layer.register_forward_hook(
        lambda module, _, output: outputs[id(module)].append(output.flatten().cpu()))
        for layer in layers]
    model.eval()
    device = next(model.parameters()).device  # the frames follow the model
    try:
        for start in range(0, len(frames), batch_size):
            model(frames[start:start + batch_size].to(device))
    finally:
        for hook in hooks:
            hook.remove()
    return [float(np.percentile(torch.cat(outputs[id(layer)]).numpy(), percentile))
            for layer in layers]


def _relus_after_weights(model):
    result, seen_weight = [], False
    for layer in flatten_layers(model):
        seen_weight |= isinstance(layer, (nn.Conv2d, nn.Linear))
        if seen_weight and isinstance(layer, NeuromorphicReLU):
            result.append(layer)
    return result


@torch.no_grad()
def normalise_weights(model: nn.Module, percentiles: Sequence[float], level: float) -> nn.Module:
    """Scale each weight layer so that its ReLU's `percentiles` value becomes `level`.

    W_1 <- W_1 * level / p_1 and W_l <- W_l * p_(l-1) / p_l: in a bias-free ReLU chain
    every layer's activation percentile then equals `level` (in spikes per sample), the
    data-based normalisation of Rueckauer et al. (2017) with a common target level.
    """
    weights = [layer for layer in flatten_layers(model)
               if isinstance(layer, (nn.Conv2d, nn.Linear))]
    if len(weights) != len(percentiles):
        raise ValueError(f"{len(percentiles)} percentiles for {len(weights)} weight layers")
    if any(layer.bias is not None for layer in weights):
        raise ValueError("normalise_weights handles bias-free networks only")
    previous = level
    for layer, value in zip(weights, percentiles, strict=True):
        value = max(value, 1e-12)
        factor = level / value if layer is weights[0] else previous / value
        layer.weight.mul_(factor)
        previous = value
    return model

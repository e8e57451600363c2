
"""The fast simulator's CUDA engine, time-parallel: each weight layer runs once over all
steps of a time window (the same torch operation sinabs runs, so the currents are sinabs'
bit for bit), and each spiking layer is one scan over time (a Triton kernel on CUDA)
instead of a Python loop over steps."""
from __future__ import annotations

import functools

import torch
import torch.nn as nn

from ...data.events import EventBatch
from ..convert import time_window
from ..result import BatchResult, NeuroBenchCounts
from .plan import (
    IGNORED,
    count_layer,
    device_of,
    is_spiking,
    neurobench_frames,
    pair,
    spiking_params,
)


def _scan_torch(current: torch.Tensor, potential: torch.Tensor, single: bool,
                bound: float | None) -> torch.Tensor:
    """Integrate-and-fire over time, a loop over steps: current (B, T, N) -> spikes; the
    membrane `potential` (B, N) is updated in place. sinabs' operations, in its order."""
    spikes = torch.empty_like(current)
    for step in range(current.shape[1]):
        x = potential + current[:, step]
        fired = (x >= 1).float() if single else torch.where(x >= 1, torch.trunc(x), 0.0)
        x = x - fired
        if bound is not None:
            x = torch.relu(x - bound) + bound
        potential.copy_(x)
        spikes[:, step] = fired
    return spikes


@functools.lru_cache(maxsize=1)  # built once per process
def _triton_scan():
    """The scan as one Triton kernel (each program: a block of neurons, a loop over time),
    or None where Triton cannot be imported."""
    try:  # triton: only on CUDA machines, imported when first scanned
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def scan_kernel(current, spikes, potential, steps, neurons, bound,
                    SINGLE: tl.constexpr, HAS_BOUND: tl.constexpr, BLOCK: tl.constexpr):
        sample = tl.program_id(0)
        offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        inside = offsets < neurons
        state = potential + sample * neurons + offsets
        v = tl.load(state, mask=inside, other=0.0)
        base = sample.to(tl.int64) * steps * neurons
        for step in range(steps):
            at = base + step * neurons + offsets
            x = v + tl.load(current + at, mask=inside, other=0.0)
            if SINGLE:
                fired = tl.where(x >= 1.0, 1.0, 0.0)
            else:
                # trunc(x) for x >= 1: conversion to integer rounds toward zero
                fired = tl.where(x >= 1.0, x.to(tl.int64).to(tl.float32), 0.0)
            x = x - fired
            if HAS_BOUND:
                x = tl.maximum(x - bound, 0.0) + bound
            v = x
            tl.store(spikes + at, fired, mask=inside)
        tl.store(state, v, mask=inside)

    def run(current, potential, single, bound):
        current = current.contiguous()
        batch, steps, neurons = current.shape
        spikes = torch.empty_like(current)
        block = 256
        scan_kernel[(batch, triton.cdiv(neurons, block))](
            current, spikes, potential, steps, neurons, 0.0 if bound is None else float(bound),
            SINGLE=bool(single), HAS_BOUND=bound is not None, BLOCK=block)
        return spikes

    return run


def scan(current: torch.Tensor, potential: torch.Tensor, single: bool, bound: float | None,
         engine: str = "auto") -> torch.Tensor:
    """Integrate-and-fire over time: `current` (B, T, N) -> spikes (B, T, N); `potential`
    (B, N) carries the state in and out. engine "triton" (CUDA, or the Triton
    interpreter), "torch" (a loop over steps), "auto" (Triton on CUDA, else torch)."""
    if engine == "auto":
        engine = "triton" if current.is_cuda and _triton_scan() is not None else "torch"
    if engine == "triton":
        kernel = _triton_scan()
        if kernel is None:
            raise RuntimeError("the Triton scan needs triton (pip install triton)")
        return kernel(current, potential, single, bound)
    return _scan_torch(current, potential, single, bound)


def simulate(net, data: torch.Tensor | EventBatch, memory_bytes: float = 4e9,
             engine: str = "auto", neurobench: bool = False) -> BatchResult:
    """One batch (B, T, ...), or an `EventBatch` made dense one window at a time, from rest
    through the sinabs network's own layers, each weight layer once over all steps of a
    time window (window: as many steps as fit `memory_bytes` for the widest layer), each
    spiking layer one `scan`; with `neurobench`, NeuroBench's counts of the same layers'
    inputs and spikes (`BatchResult.neurobench`)."""
    model = net.spiking_model if hasattr(net, "spiking_model") else net
    plan_layers = list(model)
    for layer in plan_layers:
        if is_spiking(layer):
            spiking_params(layer)  # the same checks as the CPU engine
    device = device_of(model)
    sparse = isinstance(data, EventBatch)
    if not sparse:
        data = data.to(device, torch.float32)
    batch, steps = (data.batch, data.steps) if sparse else data.shape[:2]
    sample_shape = data.shape if sparse else data.shape[2:]
    window = min(steps, time_window(net, sample_shape, batch, memory_bytes))
    potentials = {}
    weight_positions = [i for i, layer in enumerate(plan_layers)
                        if isinstance(layer, (nn.Conv2d, nn.Linear))]
    synops = torch.zeros(batch, len(weight_positions), dtype=torch.float64, device=device)
    spike_totals = torch.zeros(batch, sum(is_spiking(layer) for layer in plan_layers),
                               dtype=torch.float64, device=device)
    sums = NeuroBenchSums(batch, len(weight_positions), device) if neurobench else None
    outputs = []
    with torch.no_grad():
        for start in range(0, steps, window):
            chunk = data.dense(start, start + window).to(device) if sparse else \
                data[:, start:start + window]
            length = chunk.shape[1]
            x = chunk.reshape(batch * length, *chunk.shape[2:])
            scale, spiking_number = 1.0, 0
            for index, layer in enumerate(plan_layers):
                if isinstance(layer, IGNORED):
                    continue
                if is_spiking(layer):
                    single, bound = spiking_params(layer)
                    shape = x.shape[1:]
                    current = x.reshape(batch, length, -1)
                    if index not in potentials:
                        potentials[index] = torch.zeros(batch, current.shape[2], device=device)
                    x = scan(current, potentials[index], single, bound, engine)
                    spike_totals[:, spiking_number] += x.sum((1, 2), dtype=torch.float64)
                    if sums is not None:
                        sums.spiking_layer(x)
                    spiking_number += 1
                    x = x.reshape(batch * length, *shape)
                    continue
                if isinstance(layer, nn.AvgPool2d):
                    kernel = pair(layer.kernel_size)
                    scale *= kernel[0] * kernel[1]
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    per_frame = count_layer(layer, x, scale).reshape(batch, length)
                    synops[:, weight_positions.index(index)] += per_frame.sum(1)
                    if sums is not None:
                        sums.weight_layer(weight_positions.index(index), layer, x)
                    scale = 1.0
                x = layer(x)
            outputs.append(x.reshape(batch, length, -1))
    return BatchResult(torch.cat(outputs, 1), synops.cpu().numpy(), spike_totals.cpu().numpy(),
                       sums.counts() if sums is not None else None)


class NeuroBenchSums:
    """NeuroBench's counts of one batch, summed per sample over the time windows: the
    weight layers' inputs (`plan.neurobench_frames`, the formula of the sinabs hooks) and
    the spiking layers' outputs."""

    def __init__(self, batch: int, layers: int, device):
        self.batch = batch
        self.effective = torch.zeros(batch, layers, dtype=torch.float64, device=device)
        self.dense = torch.zeros(batch, layers, dtype=torch.float64, device=device)
        self.binary = torch.ones(batch, layers, dtype=torch.bool, device=device)
        self.nonzero = torch.zeros(batch, dtype=torch.float64, device=device)
        self.outputs = 0  # (neuron, step) outputs per sample

    def weight_layer(self, column: int, layer: nn.Module, frames: torch.Tensor) -> None:
        """A weight layer's input, `frames` (B * steps of the window, ...), sample-major."""
        effective, dense, binary = neurobench_frames(layer, frames)
        self.effective[:, column] += effective.reshape(self.batch, -1).sum(1)
        self.dense[:, column] += dense.reshape(self.batch, -1).sum(1)
        self.binary[:, column] &= binary.reshape(self.batch, -1).all(1)

    def spiking_layer(self, spikes: torch.Tensor) -> None:
        """A spiking layer's output in the window, (B, steps, neurons)."""
        self.nonzero += (spikes != 0).sum((1, 2), dtype=torch.float64)
        self.outputs += spikes.shape[1] * spikes.shape[2]

    def counts(self) -> NeuroBenchCounts:
        return NeuroBenchCounts(
            effective=self.effective.cpu().numpy(), dense=self.dense.cpu().numpy(),
            binary=self.binary.cpu().numpy(),
            silent=(self.outputs - self.nonzero).cpu().numpy(), outputs=self.outputs)

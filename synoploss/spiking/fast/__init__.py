"""The fast simulator: an exact, event-driven run of the networks `to_spiking` builds.

sinabs steps every layer of every time step densely, in Python. The converted networks
are integrate-and-fire chains whose spike trains are 1-2% dense, so most of that work
adds zeros. This module runs the same networks with the same arithmetic:

- integrate-and-fire, threshold 1, reset by subtraction; several spikes per step
  (sinabs' MultiSpike: trunc(v) spikes where v > 0) or one (SingleSpike: v >= 1);
  `min_v_mem` None or a bound, applied as sinabs does, relu(v - bound) + bound;
- biases added at every step (already divided by `bias_rescaling` in the network);
- average pooling, sum pooling (ours and sinabs'), dropout (identity), flatten,
  Conv2d (stride, padding, dilation, groups) and Linear between the spiking layers;
- SynOps per weight layer counted the way `sinabs.hooks` counts them: each input value
  times its connection map (`sinabs.hooks.conv_connection_map`; a Linear layer's
  out_features), times the kernel area of an average pooling right before the layer;
  on request (`neurobench=True`) also NeuroBench's counts in the same pass
  (`synoploss.spiking.neurobench_metrics` states its rules).

Two engines, one contract (`run_batch`): on the CPU an event-driven one (numba, `cpu`): every
step, only the neurons that receive input are updated and only the spikes travel
(work ~ SynOps, not ~ dense MACs); on CUDA a time-parallel one: each weight layer runs
once over all steps (the same torch operation sinabs runs), and each spiking layer is
one scan kernel over time (Triton, `cuda`) instead of a Python loop over steps.
`plan` compiles a network for the CPU engine; `cpu_kernel` is its compiled code.

Exactness. Each neuron follows sinabs' float32 operations in sinabs' order (v + I, the
spike count, v - spikes, the bound). The currents I are sums of weight x input: the CPU
engine adds a neuron's terms of one step in its own order (input neurons in the order
they spiked, kernel offsets, then the bias), oneDNN's convolution in sinabs in its own.
With up to two non-zero terms the float32 sums are identical (addition commutes); with
three or more they can differ in the last bit, and a membrane that lands within that
bit of a threshold can then spike in one simulator and not in the other. A membrane
that is exactly at the threshold (v == 1.0 exactly) spikes in both (sinabs: v > 0 and
trunc(1.0) == 1; v - 1 >= 0). `tests/test_spiking_fast.py` checks spike-for-spike identity
on every network kind, and the tie case; `benchmarks/spiking_throughput.py` counts the
differences on whole test sets. The CUDA engine runs sinabs' own convolutions, so its
currents are sinabs' bit for bit.
"""
from __future__ import annotations

from ..result import BatchResult
from . import cuda
from .cpu import EventBatch, simulate
from .plan import SimulationPlan, UnsupportedNetwork, compile_network, device_of

__all__ = ["EventBatch", "SimulationPlan", "UnsupportedNetwork", "compile_network", "run_batch",
           "sample_shape"]


def run_batch(net, data, plan: SimulationPlan | None = None,
              threads: int | None = None, neurobench: bool = False) -> BatchResult:
    """One batch through the fast simulator, from rest.

    Args:
        net: a network from `to_spiking`.
        data: a batch (B, T, *input_shape), or an `EventBatch` (sparse: the CPU engine
            reads its events, the CUDA engine makes it dense one time window at a time).
        plan: the network compiled for the CPU engine (`compile_network`; made here
            when not given, for a network on the CPU).
        threads: samples the CPU engine runs at once.
        neurobench: also NeuroBench's counts per sample (`BatchResult.neurobench`; the
            metrics: `neurobench_metrics.NeuroBenchTally`).

    Returns:
        A `BatchResult`: the CUDA engine (time-parallel) for a network on CUDA, the CPU
        engine (event-driven) otherwise.
    """
    if device_of(net.spiking_model).type == "cuda":
        return cuda.simulate(net, data, neurobench=neurobench)
    if plan is None:
        plan = compile_network(net, sample_shape(data))
    return simulate(plan, data, threads, neurobench)


def sample_shape(data) -> tuple:
    """One sample's shape at one step, of a dense batch (B, T, ...) or an `EventBatch`."""
    return tuple(data.shape) if isinstance(data, EventBatch) else tuple(data.shape[2:])

"""synoploss.spiking.evaluate: either simulator on sparse batches (`EventBatch`), in memory
that follows the events, with the same spikes and SynOps as on the dense batch; and the
early refusal of a test whose largest batch would not fit."""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

from synoploss.data.events import EventBatch
from synoploss.spiking import Simulation, evaluate, to_spiking
from synoploss.spiking.fast.cuda import simulate as cuda_simulate

# the module (the package's `evaluate` is its function)
evaluate_module = importlib.import_module("synoploss.spiking.evaluate")


def small_net(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5, bias=False),
                          nn.ReLU())
    with torch.no_grad():
        model[1].weight.mul_(4)
    return to_spiking(model, (1, 8, 8))


def dense_batch(seed=0, steps=37):
    generator = torch.Generator().manual_seed(seed)
    data = torch.poisson(torch.full((3, steps, 1, 8, 8), 0.3), generator=generator)
    data[1, steps - 5:] = 0  # a shorter chunk, padded
    return data


@pytest.mark.parametrize("simulator,window_bytes", [("sinabs", 2 ** 31), ("sinabs", 30000),
                                                    ("fast", None)])
def test_a_sparse_batch_gives_the_dense_batch_results(simulator, window_bytes, monkeypatch):
    """sinabs on windows of a few steps (the state carried over) and the CPU engine on the
    events give what sinabs gives on the whole dense batch, spike for spike."""
    net, data = small_net(), dense_batch()
    with Simulation(net, "sinabs") as reference:
        expected = reference(data)
    if window_bytes is not None:
        monkeypatch.setattr(Simulation, "window_bytes", window_bytes)
    made_dense, dense = [], EventBatch.dense
    monkeypatch.setattr(EventBatch, "dense", lambda self, *window: made_dense.append(
        dense(self, *window)) or made_dense[-1])
    with Simulation(net, simulator) as simulation:
        result = simulation(EventBatch.from_dense(data, (1, 8, 8)))
    assert torch.equal(result.output, expected.output) and expected.output.sum() > 0
    # the CPU engine reads the events; sinabs makes windows: a step of 3 samples takes
    # 2 x 4 bytes x 3 x 503 neurons (64 input, 64 spiking, 144 conv, 144 spiking, 36
    # pooled, 36 flat, 5 linear, 5 spiking, 5 out) = 12,072 bytes; 30,000 is 2 steps
    steps = [window.shape[1] for window in made_dense]
    assert steps == ([] if simulator == "fast" else [37] if window_bytes > 1e6 else
                     [2] * 18 + [1])
    np.testing.assert_allclose(result.layer_synops, expected.layer_synops, rtol=1e-6)


def test_the_cuda_engine_takes_a_sparse_batch_window_by_window():
    net, data = small_net(1), dense_batch(1)
    whole = cuda_simulate(net, data)
    windowed = cuda_simulate(net, EventBatch.from_dense(data, (1, 8, 8)), memory_bytes=4000)
    assert torch.equal(whole.output, windowed.output) and whole.output.sum() > 0
    np.testing.assert_array_equal(whole.layer_synops, windowed.layer_synops)


class SizedBatches(list):
    """Batches that tell their sizes, as `EventBatches` does."""
    shape = (1, 8, 8)

    def sizes(self):
        return [(batch.batch, batch.steps, len(batch.values)) for batch, _ in self]


@pytest.mark.parametrize("simulator", ["sinabs", "fast"])
def test_a_test_that_cannot_fit_is_refused_before_its_first_batch(simulator, monkeypatch):
    net = small_net()
    batches = SizedBatches([(EventBatch.from_dense(dense_batch(), (1, 8, 8)),
                             torch.zeros(3))])
    needed, what = evaluate_module.peak_bytes(net, batches.sizes(), (1, 8, 8), simulator)
    # by hand: 3 x 37 steps x 5 outputs x 4 bytes x 3 copies = 6,660 bytes of output; the
    # events at 20 bytes each; sinabs also every layer over the window (37 steps of
    # 12,072 bytes: see above) = 446,664
    events = len(batches[0][0].values)
    assert needed == 6660 + 20 * events + (446664 if simulator == "sinabs" else 0)
    assert "3 samples of 37 steps" in what
    monkeypatch.setattr(evaluate_module, "available_memory", lambda: needed - 1)
    ran = []
    monkeypatch.setattr(Simulation, "__call__", lambda *args: ran.append(1))
    with pytest.raises(evaluate_module.NotEnoughMemory,
                       match=r"largest batch needs about .* GiB \(3 samples of 37 steps.*"
                             r"--dt_us.*--batch_size"):
        evaluate(net, batches, simulator=simulator)
    assert not ran


PEAK = """
import sys, resource, torch
from pathlib import Path
from synoploss.data.mnist_dvs import SpikeTrainDataset
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, scale_first_layer
from synoploss.spiking import evaluate, to_spiking
torch.manual_seed(0)
net = to_spiking(scale_first_layer(MNISTDVSNet(quantize=True), 8.0), MNIST_DVS_INPUT)
chunks = SpikeTrainDataset(Path(sys.argv[1]), int(sys.argv[2]))
batches = chunks.event_batches(20)
dense = max(4 * size * steps * 64 * 64 for size, steps, _ in batches.sizes())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = evaluate(net, batches, simulator=sys.argv[3])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(dense, after - before, result.sample_synops.sum())
"""


def test_memory_follows_the_events_not_the_time_bins(tiny_mnist_dvs):
    """The test set's chunks at 20 µs bins: a dense batch would need gigabytes; the
    spiking test on the fast simulator (the CPU engine reads the events) grows its peak
    by a small part of that. (sinabs' windows: the test above.)"""
    out = subprocess.run([sys.executable, "-c", PEAK, str(tiny_mnist_dvs / "test"), "20",
                          "fast"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    dense, grown, synops = (float(value) for value in out.stdout.split())
    assert dense > 1e9  # what the largest dense batch would have needed
    assert grown < dense / 10 and synops > 0


@pytest.mark.parametrize("simulator", ["sinabs", "fast"])
@pytest.mark.parametrize("shape", [(1, 16, 4), (1, 9, 9)])
def test_a_batch_of_another_sample_shape_is_refused(simulator, shape):
    """(1, 16, 4) has as many neurons as (1, 8, 8) and ran, giving numbers of nothing;
    other shapes failed deep in torch naming nothing."""
    net = small_net()
    data = torch.ones(2, 3, *shape)
    with pytest.raises(ValueError, match=rf"shape \({shape[0]}, {shape[1]}, {shape[2]}\), but "
                                         r"the network was converted for \(1, 8, 8\)"):
        evaluate(net, [(data, torch.zeros(2))], simulator=simulator)

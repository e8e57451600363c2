"""NeuroBench 2.3.0's metrics (`synoploss.spiking.neurobench_metrics`): NeuroBench's own
hand-derived cases (its tests/test_metrics.py and tests/models/model_list.py, re-derived
below), multi-spike counts against sinabs' rule, a single-spike network where both rules
agree, and, where the `neurobench` extra is installed, the real package on two networks."""
import numpy as np
import pytest
import sinabs.layers
import torch
import torch.nn as nn

from synoploss.spiking import Simulation, to_spiking
from synoploss.spiking.neurobench_metrics import (
    NEUROBENCH_RULES,
    NeuroBenchCounter,
    connection_sparsity,
    footprint_bytes,
    neurobench_metrics,
)
from synoploss.spiking.sinabs_run import run_steps


def count(model, *inputs, batch=1):
    """NeuroBench's counts of `model` called once per input (one call per step)."""
    with NeuroBenchCounter(model) as counter, torch.no_grad():
        for data in inputs:
            model(data)
        counter.end_batch(batch)
        return counter.result()


def synops_of(result):
    return result.summary()["SynapticOperations"]


# ------------------------------------------------- (a) NeuroBench's tests, re-derived


def test_neurobench_linear_cases_are_macs_of_every_nonzero_pair():
    """test_synaptic_ops: the input (1, 20) has ten 5s, so the first call is MACs; the
    sigmoids' outputs lie in (0, 1), so every later call is MACs too. Random weights are
    all non-zero, every input is non-zero: each layer counts in x out.
    net_relu_0_2: 20*25 + 25*25 = 500 + 625 = 1125.
    net_relu_50_2: 20*20 + 20*25 + 25*25 + 25*25 = 400 + 500 + 625 + 625 = 2150."""
    torch.manual_seed(0)
    inp = torch.ones(1, 20)
    inp[:, :10] = 5
    net_relu_0_2 = nn.Sequential(nn.Linear(20, 25, bias=False), nn.Sigmoid(),
                                 nn.Linear(25, 25, bias=False), nn.ReLU())
    assert synops_of(count(net_relu_0_2, inp)) == {
        "Effective_MACs": 1125, "Effective_ACs": 0, "Dense": 1125}
    net_relu_50_2 = nn.Sequential(*[module for n_in, n_out in ((20, 20), (20, 25), (25, 25),
                                                               (25, 25))
                                    for module in (nn.Linear(n_in, n_out, bias=False),
                                                   nn.Sigmoid())])
    result = count(net_relu_50_2, inp)
    assert synops_of(result)["Effective_MACs"] == 2 * 625 + 400 + 500
    assert result.layer_means("effective_macs") == [400, 500, 625, 625]


def test_neurobench_convolution_cases():
    """Conv2d(1, 1, 3) on a 3x3 input (one 4: not spikes): one output of 9 taps -> 9.
    On 12x12: (12 - 2)^2 = 100 outputs of 9 taps -> 900. Conv1d(5, 1, 5) on (5, 10):
    10 - 4 = 6 outputs of 5 channels x 5 taps -> 150. All MACs."""
    torch.manual_seed(0)
    conv_2d = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.ReLU())
    for size, expected in ((3, 9), (12, 900)):
        inp = torch.ones(1, 1, size, size)
        inp[0, 0, 0, 0] = 4
        assert synops_of(count(conv_2d, inp)) == {
            "Effective_MACs": expected, "Effective_ACs": 0, "Dense": expected}
    inp = torch.ones(1, 5, 10)
    inp[0, 0, 0] = 4
    conv_1d = nn.Sequential(nn.Conv1d(5, 1, 5, bias=False), nn.ReLU())
    assert synops_of(count(conv_1d, inp))["Effective_MACs"] == 150


def test_neurobench_snn_case_is_acs_summed_over_steps_per_sample():
    """net_snn, Linear(20, 5), input ones (5 samples, 10 steps, 20), one call per step:
    every input is 1 -> ACs; 20 * 5 = 100 per sample and step, 10 steps -> 1000 per
    sample (5000 in all, divided by the batch's 5 samples)."""
    torch.manual_seed(0)
    net_snn = nn.Sequential(nn.Linear(20, 5, bias=False), nn.ReLU())
    inp = torch.ones(5, 10, 20)
    result = count(net_snn, *[inp[:, step] for step in range(10)], batch=5)
    assert synops_of(result) == {"Effective_MACs": 0, "Effective_ACs": 1000, "Dense": 1000}
    assert result.effective_acs[:, 0].tolist() == [1000] * 5


def test_neurobench_activation_sparsity_cases():
    """test_activation_sparsity: ReLU of ones -> no zero (0.0); of ten -1 and ten 1 -> half
    zeros (0.5); one ReLU used four times (hooked once, four outputs): each output is all
    ones (0.0), or half zeros (0.5); Sigmoid of ones is 0.73, not zero (0.0)."""
    half = torch.ones(1, 20)
    half[:, :10] = -1
    assert count(nn.Sequential(nn.Identity(), nn.ReLU()), torch.ones(1, 20)) \
        .activation_sparsity.tolist() == [0.0]
    assert count(nn.Sequential(nn.Identity(), nn.ReLU()), half) \
        .activation_sparsity.tolist() == [0.5]
    act = nn.ReLU()
    shared = nn.Sequential(*[module for _ in range(4) for module in (nn.Identity(), act)])
    assert count(shared, torch.ones(1, 20)).activation_sparsity.tolist() == [0.0]
    assert count(shared, half).activation_sparsity.tolist() == [0.5]
    assert count(nn.Sequential(nn.Identity(), nn.Sigmoid()), torch.ones(1, 20)) \
        .activation_sparsity.tolist() == [0.0]


def neurobench_net():
    """tests/models/model_list.py `net`: Linear 20-256-256-256-35 (ReLU for snntorch's
    Leaky, which ConnectionSparsity and the parameters do not see)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 256),
                         nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 35),
                         nn.ReLU())


def test_neurobench_connection_sparsity_cases():
    """test_connection_sparsity: all zeros -> 1.0; all ones -> 0.0; uniform random -> 0.0
    (NeuroBench rounds to 4 decimals); the first half of every parameter's rows zero:
    weights 20*256 + 2*256*256 + 256*35 = 145152, zeros 128*20 + 2*128*256 + 17*256
    = 72448 (35 rows: 17 zero) -> 0.49912, within 0.001 of 0.5. Biases do not count."""
    torch.manual_seed(0)
    net = neurobench_net()
    for fill, expected in ((torch.zeros_like, 1.0), (torch.ones_like, 0.0)):
        for parameter in net.parameters():
            parameter.data = fill(parameter.data)
        assert connection_sparsity(net) == expected
    for parameter in net.parameters():
        parameter.data = torch.rand_like(parameter.data)
    assert round(connection_sparsity(net), 4) == 0.0
    for parameter in net.parameters():
        rows = parameter.data.shape[0] // 2
        parameter.data[:rows], parameter.data[rows:] = 0, 1
    assert connection_sparsity(net) == 72448 / 145152
    assert abs(connection_sparsity(net) - 0.5) < 0.001


@pytest.mark.filterwarnings("ignore:to_spiking. the network has biases")
def test_footprint_is_parameters_and_buffers_neuron_states_per_sample():
    """test_parameter_count: 20*256+256 + 2*(256*256+256) + 256*35+35 = 145955 parameters,
    4 bytes each. (NeuroBench's Footprint numbers, 583900 or 1406172, add snntorch's
    buffers, which depend on its version: not re-derivable here.) sinabs' states count
    for one sample: Linear(3, 4) = 12 weights + 4 biases + 1 threshold + 4 states."""
    assert footprint_bytes(neurobench_net()) == 145955 * 4
    net = to_spiking(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), (3,))
    expected = (12 + 4 + 1 + 4) * 4
    assert footprint_bytes(net.spiking_model) == expected
    run_steps(net, torch.ones(7, 2, 3))  # the states now hold 7 samples
    assert net.spiking_model[1].v_mem.shape[0] == 7
    assert footprint_bytes(net.spiking_model) == expected


# ------------------------------------------------- (b) several spikes: sinabs vs NeuroBench


def linear_net(weight):
    net = to_spiking(nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU()), (3,))
    net.spiking_model[0].weight.data = torch.tensor(weight)
    return net


def test_multiplicity_is_lost_and_the_call_becomes_macs():
    """Linear(3 -> 3) fed the counts [2, 0, 1]: sinabs' rule, each count times its 3
    connections, (2 + 0 + 1) * 3 = 9 SynOps; NeuroBench binarises to [1, 0, 1]: 2 inputs
    x 3 = 6, and a 2 makes them MACs: 6 Effective_MACs, 0 ACs; Dense 3 x 3 = 9. Counted in
    the same pass as sinabs' SynOps."""
    net = linear_net([[0.5] * 3] * 3)
    data = torch.tensor([[[2.0, 0.0, 1.0]]])  # (B=1, T=1, 3)
    with Simulation(net, "sinabs") as simulation, \
            NeuroBenchCounter(net) as counter:
        synops = simulation(data).layer_synops
        counter.end_batch(1)
    result = counter.result()
    assert synops.tolist() == [[9.0]]
    assert synops_of(result) == {"Effective_MACs": 6, "Effective_ACs": 0, "Dense": 9}
    assert result.binary_input.tolist() == [[False]] and result.rules == NEUROBENCH_RULES


def test_one_sample_with_a_count_makes_its_whole_batch_macs():
    """NeuroBench decides per call, and sinabs calls a layer once per batch: [1, 0, 1]
    (6 ACs alone) batched with [2, 0, 1] counts as MACs. `binary_input` keeps each
    sample's own answer."""
    net = linear_net([[0.5] * 3] * 3)
    spikes, counts = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([2.0, 0.0, 1.0])
    together = neurobench_metrics(net, [(torch.stack([spikes, counts])[:, None], [0, 0])])
    assert together.effective_macs[:, 0].tolist() == [6, 6]
    assert together.effective_acs[:, 0].tolist() == [0, 0]
    assert together.binary_input[:, 0].tolist() == [True, False]
    apart = neurobench_metrics(net, [(spikes[None, None], [0]), (counts[None, None], [0])])
    assert apart.effective_acs[:, 0].tolist() == [6, 0]
    assert apart.effective_macs[:, 0].tolist() == [0, 6]


def test_zero_weights_are_not_operations():
    """Binarised weights: [1, 0, 1] through a Linear whose weight from input 0 to output 0
    is zero reaches 3 - 1 + 3 = 5 synapses (sinabs' rule counts all 6 connections);
    Dense counts all 9; ConnectionSparsity 1/9."""
    net = linear_net([[0.0, 0.5, 0.5], [0.5] * 3, [0.5] * 3])
    result = neurobench_metrics(net, [(torch.tensor([[[1.0, 0.0, 1.0]]]), [0])])
    assert synops_of(result) == {"Effective_MACs": 0, "Effective_ACs": 5, "Dense": 9}
    assert result.connection_sparsity == 1 / 9


# ------------------------------------------------- (c) single spikes: both rules agree


def single_spike_net():
    """Binary input, at most one spike per step, no pooling, no zero weight: every input
    of every layer is 0 or 1, so NeuroBench's ACs are sinabs' SynOps, layer by layer."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, stride=2, bias=False), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 2 * 2, 3, bias=False), nn.ReLU())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4).add_(torch.sign(parameter) * 0.05)
    return to_spiking(model, (2, 6, 6), spike_fn="single")


def test_single_spike_network_is_all_acs_equal_to_sinabs_synops():
    net = single_spike_net()
    data = (torch.rand(5, 6, 2, 6, 6) < 0.3).float()
    synops = []
    with Simulation(net, "sinabs") as simulation, \
            NeuroBenchCounter(net) as counter:  # the same pass
        for batch in data.split(3):
            synops.append(simulation(batch).layer_synops)
            counter.end_batch(len(batch))
    synops = np.concatenate(synops)
    result = counter.result()
    assert (synops > 0).all()
    assert result.effective_macs.sum() == 0 and result.binary_input.all()
    assert result.layer_names == [name for name, _, _ in net.synop_layers]
    np.testing.assert_array_equal(result.effective_acs, synops)
    # Dense: 6 steps x (Conv 2->4 pad 1 on 6x6: 16^2 in-bounds taps per channel pair x 8
    # + Conv 4->4 stride 2 on 6x6 -> 2x2 outputs x 36 taps x 4 + Linear 16 x 3)
    assert result.layer_means("dense") == [6 * 256 * 8, 6 * 4 * 36 * 4, 6 * 48]


def test_activation_sparsity_is_the_share_of_silent_neuron_steps():
    """Single spikes: silent (neuron, step) pairs = neurons x steps - spikes; the fast
    simulator's spike counts give the same share."""
    net = single_spike_net()
    data = (torch.rand(4, 6, 2, 6, 6) < 0.3).float()
    result = neurobench_metrics(net, [(data, [0] * 4)])
    with Simulation(net, "fast") as simulation:
        spikes = simulation(data).spike_counts.sum(1)
    neurons_steps = 6 * (4 * 6 * 6 + 4 * 2 * 2 + 3)
    np.testing.assert_allclose(result.activation_sparsity, 1 - spikes / neurons_steps)


def test_a_batch_run_in_time_windows_counts_as_one_run():
    """A batch run in windows of steps (the state carried over, as sinabs' sparse runs
    do) calls each layer once per window; the counts per sample, and the decision per
    batch, are those of one call over all steps."""
    net = multi_spike_net()
    data = torch.poisson(torch.full((3, 6, 2, 6, 6), 0.6))
    whole = neurobench_metrics(net, [(data, None)])
    with NeuroBenchCounter(net) as counter, torch.no_grad():
        run_steps(net, data[:, :4])
        run_steps(net, data[:, 4:], reset=False)
        counter.end_batch(3)
    windows = counter.result()
    for metric in ("effective_acs", "effective_macs", "dense", "binary_input",
                   "activation_sparsity"):
        np.testing.assert_array_equal(getattr(windows, metric), getattr(whole, metric))
    assert whole.effective_macs.sum() > 0


# ------------------------------------------------- (d) the real NeuroBench


class Frames(nn.Module):
    """A sinabs network as NeuroBench's TorchModel calls it: (B, T, ...) batches, every
    sample from rest. Only the spiking model is a child (the Network's analog copy would
    double Footprint). No autograd: sinabs' SynOp hooks leave non-leaf tensors on the
    layers, which NeuroBench's deepcopy of a layer refuses (SynapticOperations then
    reports 0.0 after printing the error)."""

    def __init__(self, net):
        super().__init__()
        self.spiking_model = net.spiking_model
        self.net = [net]  # not a child

    def forward(self, data):
        with torch.no_grad():
            return run_steps(self.net[0], data)


def multi_spike_net():
    """Counts in, several spikes a step, average pooling, zero weights, zero padding."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Conv2d(4, 4, 3, stride=2, bias=False),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4, 5, bias=False), nn.ReLU())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3)
            parameter[parameter.abs() < 0.2] = 0
    return to_spiking(model, (2, 6, 6))


def run_neurobench(net, data, batch_size):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel
    from torch.utils.data import DataLoader, TensorDataset

    model = TorchModel(Frames(net))
    model.add_activation_module(sinabs.layers.IAFSqueeze)
    loader = DataLoader(TensorDataset(data, torch.zeros(len(data))), batch_size=batch_size)
    benchmark = Benchmark(model, loader, [], [], [[Footprint, ConnectionSparsity],
                                                  [SynapticOperations, ActivationSparsity]])
    return benchmark.run(quiet=True)


@pytest.mark.parametrize("kind", ["multi-spike counts", "single spikes"])
def test_against_the_real_neurobench(kind):
    neurobench = pytest.importorskip("neurobench")
    assert neurobench.__version__ == NEUROBENCH_RULES
    torch.manual_seed(2)
    if kind == "single spikes":
        net, data = single_spike_net(), (torch.rand(5, 6, 2, 6, 6) < 0.3).float()
    else:  # the first batch's input is spikes, the second's counts
        net, data = multi_spike_net(), torch.poisson(torch.full((5, 4, 2, 6, 6), 0.6))
        data[:3] = data[:3].clamp(max=1)
    theirs = run_neurobench(net, data, batch_size=3)  # first: Footprint reads fresh states
    ours = neurobench_metrics(net, [(data[:3], None), (data[3:], None)]).summary()
    print(f"\n{kind}\n  NeuroBench {neurobench.__version__}: {theirs}\n  ours: {ours}")
    assert theirs["SynapticOperations"] == pytest.approx(ours["SynapticOperations"], rel=1e-9)
    assert theirs["ActivationSparsity"] == pytest.approx(ours["ActivationSparsity"], rel=1e-9)
    assert theirs["Footprint"] == ours["Footprint"]
    assert theirs["ConnectionSparsity"] == round(ours["ConnectionSparsity"], 4)
    synops = ours["SynapticOperations"]
    assert synops["Effective_ACs"] > 0  # first batch: spikes in, counts in the second
    assert (synops["Effective_MACs"] > 0) == (kind == "multi-spike counts")

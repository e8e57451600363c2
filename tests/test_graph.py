"""synoploss.graph, and the SynOp count and conversion of models that are not chains:
residual additions, branches, BatchNorm, functional reshapes. sinabs is the oracle."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sinabs.hooks import conv_connection_map

from synoploss.experiments.evaluation import compare_analog_and_spiking
from synoploss.graph import UnsupportedLayer, fold_batchnorm, trace
from synoploss.loss import SynOpLoss
from synoploss.quantize import NeuromorphicReLU
from synoploss.synops import SynOpCounter, assign_fanout, make_countable


class Residual(nn.Module):
    """input ReLU -> conv -> BN -> ReLU -> conv (+ the ReLU's output) -> ReLU -> pool ->
    flatten in forward -> linear -> ReLU."""

    def __init__(self):
        super().__init__()
        self.inp = NeuromorphicReLU(quantize=True)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(4)
        self.relu1 = NeuromorphicReLU(quantize=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.relu2 = NeuromorphicReLU(quantize=True)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 5, bias=False)
        self.out = NeuromorphicReLU(quantize=True)

    def forward(self, data):
        skip = self.relu1(self.norm(self.conv1(self.inp(data))))
        joined = self.relu2(self.conv2(skip) + skip)
        return self.out(self.fc(torch.flatten(self.pool(joined), 1)))


class Branches(nn.Module):
    """One ReLU feeding two convolutions whose outputs are concatenated."""

    def __init__(self):
        super().__init__()
        self.inp = NeuromorphicReLU(quantize=True)
        self.left = nn.Conv2d(1, 3, 3, bias=False)
        self.right = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
        self.relu_left = NeuromorphicReLU(quantize=True)
        self.relu_right = NeuromorphicReLU(quantize=True)
        self.fc = nn.Linear(3 * 6 * 6 + 2 * 4 * 4, 4, bias=False)
        self.out = NeuromorphicReLU(quantize=True)

    def forward(self, data):
        data = self.inp(data)
        left = self.relu_left(self.left(data)).view(data.size(0), -1)
        right = self.relu_right(self.right(data)).reshape(data.shape[0], -1)
        return self.out(self.fc(torch.cat([left, right], 1)))


def positive(model, seed, low=-0.2, high=0.8):
    torch.manual_seed(seed)
    for name, parameter in model.named_parameters():
        if "norm" not in name:
            nn.init.uniform_(parameter, low, high)
    return model


def test_the_graph_says_what_feeds_what():
    graph = trace(Residual())
    assert graph.feeds == {"inp": ["conv1"], "relu1": ["conv2"], "relu2": ["fc"], "out": []}
    assert graph.pool_scale == {"conv1": 1.0, "conv2": 1.0, "fc": 4.0}
    assert trace(Branches()).feeds["inp"] == ["left", "right"]


@pytest.mark.parametrize("model,message", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), r"layer 1 \(MaxPool2d\): max pooling"),
    (nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 1)), "attention"),
    (nn.Sequential(nn.LSTM(4, 4)), "recurrence"),
])
def test_unsupported_layers_are_named_with_the_reason(model, message):
    with pytest.raises(UnsupportedLayer, match=message):
        trace(model)


def test_a_functional_activation_is_refused_not_missed():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, data):
            return F.relu(self.conv(data))
    with pytest.raises(UnsupportedLayer, match=r"relu .*no module"):
        trace(Functional())


def test_data_dependent_control_flow_is_refused_with_the_reason():
    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = NeuromorphicReLU()

        def forward(self, data):
            return self.relu(data) if data.sum() > 0 else data
    with pytest.raises(UnsupportedLayer, match="cannot be traced by torch.fx"):
        trace(Branching())


def test_fanouts_sum_over_every_weight_layer_a_neuron_feeds():
    """sinabs' connection maps are the oracle: the branched input ReLU's map is the sum of
    both convolutions' maps; the residual ReLU's is conv2's (the addition has no synapses)."""
    model = Branches()
    assign_fanout(model, (1, 8, 8))
    expected = conv_connection_map(model.left, (1, 8, 8), (3, 6, 6))[0] + \
        conv_connection_map(model.right, (1, 8, 8), (2, 4, 4))[0]
    torch.testing.assert_close(model.inp.fanout, expected)
    residual = Residual()
    assign_fanout(residual, (1, 8, 8))
    torch.testing.assert_close(residual.relu1.fanout,
                               conv_connection_map(residual.conv2, (4, 8, 8), (4, 8, 8))[0])
    assign_fanout(residual, (1, 8, 8), mode="paper")
    assert float(residual.relu1.fanout) == 3 * 3 * 4 and float(residual.relu2.fanout) == 5


def test_the_probe_leaves_the_model_as_it_found_it():
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), NeuromorphicReLU(),
                          nn.Linear(4, 2), NeuromorphicReLU()).train()
    before = copy.deepcopy(model.state_dict())
    assign_fanout(model, (6,))  # BatchNorm1d on one sample: fine in eval mode
    assert model.training and all(module.training for module in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model[2].fanout.tolist() == [2.0] * 4


def test_batchnorm_is_folded_exactly():
    torch.manual_seed(0)
    model = Residual().eval()
    model.norm.running_mean.uniform_(-1, 1)
    model.norm.running_var.uniform_(0.5, 2)
    nn.init.uniform_(model.norm.weight, 0.5, 1.5)
    nn.init.uniform_(model.norm.bias, -0.5, 0.5)
    for relu in (model.inp, model.relu1, model.relu2, model.out):
        relu.quantize = False
    folded = fold_batchnorm(copy.deepcopy(model))
    assert isinstance(folded.norm, nn.Identity) and folded.conv1.bias is not None
    data = torch.rand(5, 1, 8, 8) * 3
    torch.testing.assert_close(folded(data), model(data), rtol=1e-5, atol=1e-5)


def test_a_batchnorm_that_cannot_be_folded_is_named():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), NeuromorphicReLU(), nn.BatchNorm2d(2))
    with pytest.raises(UnsupportedLayer, match=r"2 \(BatchNorm\): it is not fed by one weight"):
        fold_batchnorm(model)


@pytest.mark.parametrize("make,shape", [(Residual, (1, 8, 8)), (Branches, (1, 8, 8))])
@pytest.mark.parametrize("seed", [0, 1])
def test_estimate_equals_sinabs_on_graphs_at_one_time_step(make, shape, seed):
    """As tests/test_synops.py for chains: for integer inputs presented in one time step,
    the quantized analog network's estimate equals, ReLU by ReLU, what sinabs measures on
    the spiking network, matched by name; and the spiking output equals the analog one."""
    model = positive(make(), seed)
    if isinstance(model, Residual):  # BatchNorm in eval mode, identity statistics
        model.norm.eval()
    assign_fanout(model, shape)
    model.eval()
    data = torch.randint(0, 4, (6, 1, *shape)).float()
    frames = [(data[:, 0], torch.zeros(6, dtype=torch.long))]
    comparison = compare_analog_and_spiking(model, shape, frames, [(data, torch.zeros(6))])
    row = comparison.row
    relus = [name for name in ("inp", "relu1", "relu2", "relu_left", "relu_right")
             if f"ann_synops_{name}" in row]
    assert relus and all(row[f"ann_synops_{name}"] > 0 for name in relus)
    for name in relus:
        if f"snn_synops_{name}" in row:
            assert row[f"snn_synops_{name}"] == pytest.approx(row[f"ann_synops_{name}"],
                                                              rel=1e-5)
    if isinstance(model, Branches):
        # both branches reach fc through one concatenation: fc's count cannot be split
        # between them, so only their sum is compared (in the total)
        assert "snn_synops_relu_left" not in row and "snn_synops_inp" in row
    assert row["snn_synops"] == pytest.approx(row["ann_synops"], rel=1e-5)


def test_make_countable_replaces_relus():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3),
                          nn.ReLU())
    make_countable(model, quantize=True)
    assert [type(layer) for layer in (model[1], model[4])] == [NeuromorphicReLU] * 2
    assert model[1].quantize
    assign_fanout(model, (1, 6, 6))
    assert len(SynOpCounter(model)) == 1  # the output feeds nothing


# ---------------------------------------------------------------- the counter sees one pass
def counted_model():
    model = positive(nn.Sequential(NeuromorphicReLU(), nn.Conv2d(1, 3, 3, bias=False),
                                   NeuromorphicReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2),
                                   NeuromorphicReLU()), 0)
    assign_fanout(model, (1, 6, 6))
    return model


def test_a_second_forward_pass_does_not_replace_the_first():
    model = counted_model()
    counter, loss = SynOpCounter(model), None
    batch, other = torch.rand(4, 1, 6, 6) * 3, torch.rand(4, 1, 6, 6) * 9
    with counter.record() as alone:
        model(batch)
    with counter.record() as synops:
        model(batch)
    with torch.no_grad(), counter.record():  # a validation pass in between: its own record
        model(other)
    loss = SynOpLoss(counter, target=10.0)
    torch.testing.assert_close(synops.layer_synops(), alone.layer_synops())
    assert loss(synops).item() == pytest.approx(loss(alone).item())


def test_replicas_of_data_parallel_give_the_whole_batch():
    """nn.DataParallel's replicas (made as DataParallel makes them) each see part of the
    batch; the recording combines them into the whole batch's SynOps per sample."""
    model = counted_model()
    counter = SynOpCounter(model)
    batch = torch.rand(6, 1, 6, 6) * 3
    with counter.record() as whole:
        model(batch)
    replicas = [model._replicate_for_data_parallel() for _ in range(2)]
    with counter.record() as parts:
        replicas[0](batch[:4])
        replicas[1](batch[4:])
    torch.testing.assert_close(parts.layer_synops(), whole.layer_synops())


def test_torch_compile_gives_the_penalty_of_its_batch():
    model = counted_model()
    counter = SynOpCounter(model)
    compiled = torch.compile(model, backend="aot_eager")
    batch = torch.rand(4, 1, 6, 6) * 3
    with counter.record() as eager:
        model(batch)
    with counter.record() as synops:
        compiled(batch)
    torch.testing.assert_close(synops.layer_synops(), eager.layer_synops())
    synops.total().backward()
    assert model[1].weight.grad.abs().sum() > 0


def test_a_recording_without_a_forward_pass_says_so():
    counter = SynOpCounter(counted_model())
    with counter.record() as synops:
        pass
    with pytest.raises(RuntimeError, match="inside `with counter.record"):
        synops.layer_synops()

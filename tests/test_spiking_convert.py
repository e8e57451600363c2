import numpy as np
import pytest
import sinabs.layers
import torch
import torch.nn as nn

from synoploss.quantize import NeuromorphicReLU, QuantizeLayer
from synoploss.spiking import evaluate, to_spiking
from synoploss.spiking.sinabs_run import run_steps
from synoploss.synops import assign_fanout


class PaperShape(nn.Module):
    def __init__(self, bias=False, pool_kernel=2):
        super().__init__()
        self.input_relu = NeuromorphicReLU()
        self.seq = nn.Sequential(nn.Conv2d(1, 3, 3, bias=bias), NeuromorphicReLU(),
                                 nn.AvgPool2d(pool_kernel), nn.Flatten(),
                                 nn.Linear(3 * 3 * 3, 4, bias=bias), NeuromorphicReLU())

    def forward(self, data):
        return self.seq(self.input_relu(data))


def test_no_neuromorphic_relu_survives_and_model_untouched():
    model = PaperShape()
    assign_fanout(model, (1, 8, 8))
    model(torch.rand(2, 1, 8, 8) * 5)  # leaves non-leaf `activity` tensors behind
    net = to_spiking(model, (1, 8, 8))
    kinds = [type(layer) for layer in net.spiking_model]
    assert NeuromorphicReLU not in kinds
    assert kinds.count(sinabs.layers.IAFSqueeze) == 3
    assert isinstance(model.input_relu, NeuromorphicReLU)  # the original is not modified
    layer = net.spiking_model[0]
    assert layer.spike_threshold.item() == 1.0 and layer.min_v_mem is None


def test_output_quantize_layer_becomes_spiking_and_min_v_mem_is_passed():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), NeuromorphicReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3), QuantizeLayer())
    net = to_spiking(model, (1, 6, 6), min_v_mem=-1.0)
    spiking = [layer for layer in net.spiking_model if isinstance(layer, sinabs.layers.IAFSqueeze)]
    assert len(spiking) == 2 and all(layer.min_v_mem == -1.0 for layer in spiking)


def test_bad_spike_fn():
    with pytest.raises(ValueError, match="spike_fn"):
        to_spiking(PaperShape(), (1, 8, 8), spike_fn="binary")


@pytest.mark.parametrize("seed", [0, 1])
def test_cumulative_spikes_follow_closed_form(seed):
    """IAF, threshold 1, subtractive reset, no lower bound, several spikes per step:
    cumulative spikes = max(0, running max of floor(cumulative input))."""
    torch.manual_seed(seed)
    steps, neurons = 200, 50
    drive = torch.randn(1, steps, neurons) * 0.8 + 0.05
    net = to_spiking(nn.Sequential(NeuromorphicReLU()), (neurons,))
    net.spiking_model.hook_data = {}
    for layer in net.spiking_model:
        layer.batch_size, layer.num_timesteps = 1, -1
    with torch.no_grad():
        spikes = net(drive.reshape(steps, neurons))
    cumulative_spikes = spikes.cumsum(0)
    cumulative_input = drive[0].cumsum(0).double()
    expected = torch.cummax(torch.floor(cumulative_input), dim=0).values.clamp(min=0)
    torch.testing.assert_close(cumulative_spikes.double(), expected)


def test_lower_bound_changes_the_dynamics():
    drive = torch.tensor([[-3.0], [1.5], [1.5]]).reshape(1, 3, 1)
    outputs = {}
    for bound in (None, -1.0):
        net = to_spiking(nn.Sequential(NeuromorphicReLU()), (1,), min_v_mem=bound)
        outputs[bound] = run_steps(net, drive).sum(1).item()
    assert outputs[None] == 0.0   # -3 + 3 = 0: no spike
    assert outputs[-1.0] == 2.0   # clipped to -1, then -1 + 3 = 2


def test_batched_evaluation_equals_one_sample_at_a_time():
    torch.manual_seed(3)
    model = PaperShape(bias=False)  # zero-padded steps add no drive without biases
    for weight in model.parameters():
        nn.init.uniform_(weight, -0.3, 0.8)
    net = to_spiking(model, (1, 8, 8))
    lengths = [5, 9, 3, 7]
    samples = [(torch.rand(t, 1, 8, 8) < 0.3).float() for t in lengths]
    labels = torch.tensor([0, 1, 2, 3])
    padded = torch.zeros(4, max(lengths), 1, 8, 8)
    for index, sample in enumerate(samples):
        padded[index, :len(sample)] = sample
    batched = evaluate(net, [(padded, labels)], keep_output=True)
    single = [evaluate(net, [(s[None], labels[i:i + 1])], keep_output=True)
              for i, s in enumerate(samples)]
    np.testing.assert_allclose(batched.output_spikes,
                               np.concatenate([r.output_spikes for r in single]))
    per_sample = np.array([r.layer_synops for r in single])
    np.testing.assert_allclose(batched.layer_synops, per_sample.mean(0), rtol=1e-5)
    assert batched.synops > 0
    assert batched.accuracy == np.mean([r.accuracy for r in single])
    # two batches give the same averages as one
    split = evaluate(net, [(padded[:2], labels[:2]), (padded[2:], labels[2:])])
    np.testing.assert_allclose(split.layer_synops, batched.layer_synops, rtol=1e-5)


def test_empty_batches():
    with pytest.raises(ValueError, match="no batches"):
        evaluate(to_spiking(PaperShape(), (1, 8, 8)), [])


class Residual(nn.Module):
    """A graph (not a chain): the hooks on each weight layer, not ModelSynopsHook."""

    def __init__(self):
        super().__init__()
        self.input_relu = nn.ReLU()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.block = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.block_relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.readout = nn.Linear(2 * 4 * 4, 3, bias=False)
        self.output_relu = nn.ReLU()

    def forward(self, data):
        data = self.relu(self.conv(self.input_relu(data)))
        data = self.block_relu(self.block(data) + data)
        return self.output_relu(self.readout(torch.flatten(self.pool(data), 1)))


@pytest.mark.parametrize("model_class", [
    PaperShape, Residual,
    lambda: PaperShape(pool_kernel=(2, 2))],  # a tuple kernel: its area, as sinabs scales
    ids=["chain", "graph", "chain-tuple-kernel"])
def test_per_sample_synops_sum_to_sinabs_own_counts(model_class):
    """Our per-sample, per-layer SynOps (sinabs keeps only the batch mean) summed over the
    batch equal sinabs' own numbers: ModelSynopsHook for a chain (pooling's area included),
    the layer hooks times the pooling area for a graph."""
    from synoploss.spiking.sinabs_run import hook_synops
    torch.manual_seed(1)
    model = model_class()
    for weight in model.parameters():
        nn.init.uniform_(weight, -0.2, 0.9)
    net = to_spiking(model, (1, 8, 8))
    data = (torch.rand(3, 6, 1, 8, 8) < 0.4).float()
    result = evaluate(net, [(data, torch.zeros(3))])
    sinabs_counts = hook_synops(net, 3, 6)  # the last batch: this one
    assert result.sample_synops.shape == (3, len(sinabs_counts))
    np.testing.assert_allclose(result.sample_synops.sum(0), sinabs_counts, rtol=1e-5)
    assert all(count > 0 for count in sinabs_counts)  # every layer saw spikes
    # and by hand for the input layer: events times each pixel's connections
    first = net.synop_layers[0][1]
    connections = torch.nn.functional.conv_transpose2d(
        torch.ones(1, *first(data[0, :1]).shape[1:]), torch.ones_like(first.weight),
        stride=first.stride, padding=first.padding)
    np.testing.assert_allclose(result.sample_synops[:, 0],
                               (data.sum(1) * connections).flatten(1).sum(1).numpy(), rtol=1e-6)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (3, 0, 1, 2), (1, 1, 1, 4)])
def test_conv1d_connection_map_counts_each_inputs_connections(stride, padding, dilation, groups):
    """Against autograd: with unit weights, d(sum of outputs)/d(input) is the number of
    outputs each input feeds (an independent count of the same connections)."""
    from synoploss.spiking.sinabs_run import conv1d_connection_map
    layer = nn.Conv1d(4, 8, 3, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=False)
    nn.init.ones_(layer.weight)
    data = torch.rand(1, 4, 11, requires_grad=True)
    output = layer(data)
    output.sum().backward()
    connections = conv1d_connection_map(layer, data.detach(), output.detach())
    torch.testing.assert_close(connections.expand_as(data.grad), data.grad)


@pytest.mark.parametrize("bias_value, bias_rescaling, warns", [
    (0.0, 1.0, False),    # zero biases add nothing: no warning
    (0.05, 1.0, True),    # any non-zero bias, however small, is added at every step
    (0.05, 10.0, False),  # the caller has said how many steps the input lasts
])
def test_to_spiking_warns_about_biases_added_at_every_step(bias_value, bias_rescaling, warns):
    import warnings
    linear = nn.Linear(4, 3)
    with torch.no_grad():
        linear.bias.fill_(bias_value)
    model = nn.Sequential(nn.Flatten(), linear, NeuromorphicReLU())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        to_spiking(model, (4,), bias_rescaling=bias_rescaling)
    messages = [str(warning.message) for warning in caught if "biases" in str(warning.message)]
    assert bool(messages) == warns, messages


@pytest.mark.parametrize("padding,kernel,dilation", [("same", 3, 1), ("valid", 3, 1),
                                                    ("same", 3, 2), ("valid", 4, 1)])
def test_string_padding_is_converted_and_measured(padding, kernel, dilation):
    """padding='same' / 'valid' made every spiking test fail inside sinabs' hooks with a
    bare TypeError; the converted network has it as numbers, the same outputs, and both
    simulators count it as sinabs does."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 3, kernel, padding=padding,
                                               dilation=dilation, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.LazyLinear(4, bias=False), nn.ReLU())
    model(torch.zeros(1, 1, 8, 8))
    net = to_spiking(model, (1, 8, 8))
    conv = net.spiking_model[1]
    assert all(isinstance(size, int) for size in conv.padding)
    data = (torch.rand(2, 6, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3) * 2.0
    with torch.no_grad():
        assert torch.equal(conv(data[0]), model[1](data[0]))
    fast = evaluate(net, [(data, torch.zeros(2))], simulator="fast")
    reference = evaluate(net, [(data, torch.zeros(2))], simulator="sinabs")
    np.testing.assert_allclose(fast.sample_synops, reference.sample_synops, rtol=1e-5)
    assert reference.sample_synops[:, 0].sum() > 0


def test_same_padding_that_pads_one_side_more_is_refused_by_name():
    from synoploss.graph import UnsupportedLayer
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 3, 4, padding="same", bias=False), nn.ReLU())
    with pytest.raises(UnsupportedLayer, match=r"1 \(Conv2d.*padding='same' pads one side more"):
        to_spiking(model, (1, 8, 8))

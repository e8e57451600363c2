import pytest
import sinabs.layers
import torch
import torch.nn as nn
import torch.nn.functional as F
from sinabs.hooks import conv_connection_map

from synoploss.quantize import NeuromorphicReLU, QuantizeLayer, SumPool2d
from synoploss.spiking import evaluate, to_spiking
from synoploss.synops import SynOpCounter, assign_fanout, count_macs


def sinabs_map(conv: nn.Conv2d, input_shape):
    """sinabs' connection map (a transposed convolution of ones): the reference."""
    output_shape = conv(torch.zeros(1, *input_shape)).shape[1:]
    return conv_connection_map(conv, input_shape, output_shape)[0]


@pytest.mark.parametrize("conv_kwargs,input_shape", [
    (dict(in_channels=2, out_channels=5, kernel_size=3, stride=2, padding=1), (2, 11, 11)),
    (dict(in_channels=2, out_channels=5, kernel_size=3, stride=1, padding=0), (2, 9, 8)),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (3, 10, 10)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2), (2, 12, 12)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, padding=1), (4, 8, 8)),
    (dict(in_channels=1, out_channels=4, kernel_size=(3, 5), stride=(2, 1)), (1, 13, 12)),
])
def test_conv_fanout_equals_sinabs_connection_map(conv_kwargs, input_shape):
    conv = nn.Conv2d(bias=False, **conv_kwargs)
    model = nn.Sequential(NeuromorphicReLU(), conv, NeuromorphicReLU())
    assign_fanout(model, input_shape)
    torch.testing.assert_close(model[0].fanout, sinabs_map(conv, input_shape))
    assert model[2].fanout.abs().sum() == 0  # last layer: no outgoing connections


@pytest.mark.parametrize("pool", [nn.AvgPool2d(2), SumPool2d(2)])
@pytest.mark.parametrize("size", [12, 13])  # 13: pooling drops the last row and column
def test_pooling_before_convolution(pool, size):
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    model = nn.Sequential(NeuromorphicReLU(), pool, conv, NeuromorphicReLU())
    assign_fanout(model, (3, size, size))
    pooled = size // 2
    reference = sinabs_map(conv, (3, pooled, pooled))
    reference = reference.repeat_interleave(2, 1).repeat_interleave(2, 2)
    reference = F.pad(reference, (0, size - 2 * pooled, 0, size - 2 * pooled))
    torch.testing.assert_close(model[0].fanout, reference)


def test_linear_gives_out_features_through_dropout_and_flatten():
    model = nn.Sequential(NeuromorphicReLU(), nn.Dropout2d(0.5), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 7, bias=False), NeuromorphicReLU())
    summary = assign_fanout(model, (2, 3, 3))
    assert torch.equal(model[0].fanout, torch.full((2, 3, 3), 7.0))
    assert [(s.activation_shape, s.mean_fanout, s.max_fanout) for s in summary] == [
        ((2, 3, 3), 7.0, 7.0), ((7,), 0.0, 0.0)]
    assert model.training  # assign_fanout does not switch dropout off for good


def test_last_relu_feeding_an_output_quantizer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), NeuromorphicReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 10), QuantizeLayer())
    assign_fanout(model, (1, 8, 8))
    assert torch.equal(model[1].fanout, torch.full((2, 6, 6), 10.0))


class PaperShape(nn.Module):
    """An input NeuromorphicReLU followed by a `seq` Sequential, as the paper's models."""

    def __init__(self):
        super().__init__()
        self.input_relu = NeuromorphicReLU()
        self.seq = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), NeuromorphicReLU(),
                                 nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 4),
                                 NeuromorphicReLU())

    def forward(self, data):
        return self.seq(self.input_relu(data))


def test_paper_model_shape():
    model = PaperShape()
    summary = assign_fanout(model, (1, 8, 8))
    assert [s.name for s in summary] == ["input_relu", "seq.1", "seq.5"]
    torch.testing.assert_close(model.input_relu.fanout, sinabs_map(model.seq[0], (1, 8, 8)))
    # 6x6 conv output pooled to 3x3, each pooled neuron reaches 4 outputs
    assert torch.equal(model.seq[1].fanout, torch.full((2, 6, 6), 4.0))


class NotAChain(PaperShape):
    def forward(self, data):
        return self.seq(data)  # skips input_relu: the registration order lies


@pytest.mark.parametrize("model,message", [
    (nn.Sequential(NeuromorphicReLU(), nn.MaxPool2d(2), nn.Conv2d(1, 2, 3), NeuromorphicReLU()),
     "MaxPool2d"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "no NeuromorphicReLU"),
    (NotAChain(), "input_relu: the model's forward never calls it"),
])
def test_assign_fanout_errors(model, message):
    with pytest.raises(ValueError, match=message):
        assign_fanout(model, (1, 8, 8))


def test_counter_needs_a_counted_layer():
    with pytest.raises(ValueError, match="no NeuromorphicReLU with a non-zero fan-out"):
        SynOpCounter([nn.Linear(2, 2), NeuromorphicReLU(fanout=0)])


def test_counter_sums_and_lists():
    layers = [NeuromorphicReLU(quantize=False, fanout=2),
              NeuromorphicReLU(quantize=False, fanout=0),
              NeuromorphicReLU(quantize=False, fanout=10)]
    data = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
    counter = SynOpCounter(layers)
    with counter.record() as synops:
        for layer in layers:
            layer(data)
    # (1 + 2 + 3) / 2 samples x fan-out 2; the fan-out-0 layer is not counted
    assert synops.layer_synops().tolist() == [6.0, 30.0] and synops.total().item() == 36.0


def test_count_macs_by_hand():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(4, 8, 3, stride=2, groups=2), nn.Flatten(),
                          nn.Linear(8, 10))
    macs = count_macs(model, (2, 8, 8))
    assert [(m.name, m.macs) for m in macs] == [
        ("0", 4 * 8 * 8 * 2 * 9),   # 4 outputs of 8x8, each 2 inputs x 3x3
        ("3", 8 * 1 * 1 * 2 * 9),   # 4x4 -> 1x1 (stride 2, no padding), in/groups = 2
        ("5", 8 * 10)]


def oracle_model(sum_pooling=SumPool2d, average_kernel=2):
    return nn.Sequential(
        NeuromorphicReLU(), nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False), NeuromorphicReLU(),
        sum_pooling(2), nn.Conv2d(4, 6, 3, padding=1, bias=False), NeuromorphicReLU(),
        nn.AvgPool2d(average_kernel), nn.Conv2d(6, 8, 3, dilation=2, bias=False),
        NeuromorphicReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 5, bias=False), NeuromorphicReLU())


@pytest.mark.parametrize("seed, sum_pooling, average_kernel", [
    (0, SumPool2d, 2), (1, SumPool2d, 2), (2, SumPool2d, 2),
    # sinabs' own SumPool2d (an LPPool2d): no gradient at zero, its input's fan-out read 0
    (0, sinabs.layers.SumPool2d, 2),
    (1, SumPool2d, (2, 2))])  # a kernel given as a tuple: its area, for sinabs' scaling
def test_estimate_equals_sinabs_measurement_layer_by_layer(seed, sum_pooling, average_kernel):
    """The oracle: our SynOp estimate on the quantized network == what sinabs measures on
    the spiking network at T = 1 (several spikes per step reproduce floor-ReLU)."""
    torch.manual_seed(seed)
    model = oracle_model(sum_pooling, average_kernel)
    for weight in model.parameters():
        nn.init.uniform_(weight, -0.2, 0.9)
    input_shape = (1, 48, 48)
    assign_fanout(model, input_shape)
    model.eval()
    data = torch.randint(0, 5, (6, 1, *input_shape)).float()  # integer counts
    with SynOpCounter(model).record() as synops:
        analog_output = model(data[:, 0])
    estimated = synops.layer_synops().tolist()
    assert min(estimated) > 0  # every layer active: the comparison means something

    net = to_spiking(model, input_shape)
    result = evaluate(net, [(data, torch.zeros(6))], keep_output=True)
    assert result.layer_synops == pytest.approx(estimated, rel=1e-5)
    torch.testing.assert_close(torch.from_numpy(result.output_spikes), analog_output.detach())


# The paper's fan-out constants, typed from the paper (Sorbaro et al. 2020, and the
# original code): the rule "next layer's kernel area x channels / stride area" must
# reproduce them, and the output ReLU gets the network's output fan-out.
@pytest.mark.parametrize("network,expected", [
    ("mnist_dvs", [72, 108, 108, 10, 0]),
    ("cifar10", [864, 432, 1728, 1728, 432, 1728, 192, 10, 1]),
])
def test_paper_fanouts_are_the_papers_constants(network, expected):
    from synoploss.models import CIFAR10AnalogueClassifier, MNISTDVSNet
    model = MNISTDVSNet(fanout="paper") if network == "mnist_dvs" \
        else CIFAR10AnalogueClassifier(fanout="paper")
    relus = [m for m in model.modules() if isinstance(m, NeuromorphicReLU)]
    assert [float(relu.fanout) for relu in relus] == expected
    assert all(relu.fanout.numel() == 1 for relu in relus)  # one constant per layer


def test_paper_input_layer_synops_are_72_per_input_event():
    """With the paper's fan-outs, the input layer's estimate is exactly 72 x the events
    (9 kernel positions x 8 channels), while the exact maps give less: border pixels
    reach fewer of conv1's outputs."""
    from synoploss.models import MNISTDVSNet
    frames = torch.zeros(2, 1, 64, 64)
    frames[0, 0, 10:20, 30:35] = 3          # 150 events, all inside
    frames[1, 0, 0, :] = 1                  # 64 events on the top border row
    def input_synops(model, frame):
        with SynOpCounter(model).record() as synops:
            model(frame[None])
        return synops.layer_synops()[0].item()
    model = MNISTDVSNet(quantize=True, fanout="paper").eval()
    assert [input_synops(model, frame) for frame in frames] == [150 * 72, 64 * 72]
    exact = MNISTDVSNet(quantize=True, fanout="exact").eval()
    # conv1 (3x3, no padding: 62x62 outputs): a top-row pixel is in the first window row
    # only, in 3 windows (columns 2..61), 2 (columns 1, 62) or 1 (columns 0, 63), x 8
    assert input_synops(exact, frames[1]) == (60 * 3 + 2 * 2 + 2 * 1) * 8
    assert input_synops(exact, frames[0]) == 150 * 72  # inside: exact equals paper


def test_paper_fanout_of_a_linear_layer_and_an_unknown_mode():
    model = nn.Sequential(NeuromorphicReLU(), nn.Flatten(), nn.Linear(8, 3))
    assign_fanout(model, (2, 2, 2), mode="paper")
    assert float(model[0].fanout) == 3
    with pytest.raises(ValueError, match="one of"):
        assign_fanout(model, (2, 2, 2), mode="approximate")


class NotAChainAtTheStart(nn.Module):
    """Its layers in registration order, each called once, but the first one's output is
    changed before the second sees it: not a chain."""

    def __init__(self):
        super().__init__()
        self.input_relu = NeuromorphicReLU(quantize=False)
        self.conv = nn.Conv2d(1, 2, 3, bias=False)
        self.relu = NeuromorphicReLU(quantize=False)

    def forward(self, data):
        return self.relu(self.conv(self.input_relu(data) * 2))


def test_a_forward_that_changes_a_layers_output_is_not_a_chain():
    from synoploss.synops import as_sequential
    with pytest.raises(ValueError, match="NotAChainAtTheStart.forward is not the chain"):
        as_sequential(NotAChainAtTheStart(), (1, 6, 6))
    assert len(as_sequential(NotAChainAtTheStart())) == 3  # without a probe: the layers


class ChainModule(nn.Module):
    """Not an nn.Sequential, but its forward is the chain of its layers in order:
    `scale_input` multiplies the input before the first layer (not a chain)."""

    def __init__(self, scale_input=False):
        super().__init__()
        self.scale_input = scale_input
        self.conv = nn.Conv2d(1, 2, 3, bias=False)
        self.relu = NeuromorphicReLU(quantize=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, data):
        return self.pool(self.relu(self.conv(data * 2 if self.scale_input else data)))


@pytest.mark.parametrize("scale_input, is_chain", [(False, True), (True, False)])
def test_as_sequential_accepts_a_chain_and_checks_its_first_input(scale_input, is_chain):
    from synoploss.synops import as_sequential
    model = ChainModule(scale_input)
    if is_chain:
        chain = as_sequential(model, (1, 6, 6))
        assert list(chain) == [model.conv, model.relu, model.pool]
    else:
        with pytest.raises(ValueError, match="ChainModule.forward is not the chain"):
            as_sequential(model, (1, 6, 6))


@pytest.mark.parametrize("length, expected", [
    (6, [3, 3, 3, 3, 3, 3]),     # three windows of 2, each feeding the 3 linear outputs
    (7, [3, 3, 3, 3, 3, 3, 0]),  # the last step is in no window: it connects to nothing
])
def test_fanout_through_average_pooling_1d(length, expected):
    model = nn.Sequential(nn.Conv1d(1, 1, 1, bias=False), NeuromorphicReLU(quantize=False),
                          nn.AvgPool1d(2), nn.Flatten(), nn.Linear(length // 2, 3, bias=False))
    assign_fanout(model, (1, length), mode="exact")
    assert model[1].fanout.flatten().tolist() == expected

"""synoploss.hardware.chips: the Speck fit by sinabs' memory formula, and the
chip's 8-bit weights."""
import pytest
import torch
import torch.nn as nn

from synoploss.graph import UnsupportedLayer
from synoploss.hardware.chips import SPECK, chip_fit, quantized_for_chip
from synoploss.models import CIFAR10AnalogueClassifier, MNISTDVSNet
from synoploss.quantize import NeuromorphicReLU
from synoploss.spiking import to_spiking


def test_the_paper_mnist_dvs_network_fits_speck():
    fit = chip_fit(MNISTDVSNet(), (1, 64, 64))
    assert fit.fits and len(fit.cores) == 4 and len(set(fit.cores.values())) == 4
    first, *_, linear = fit.layers
    # by hand, sinabs' formula: kernel 1 x 2^(ceil log2 9 + ceil log2 8) = 128 words;
    # neurons 8 x 2^(ceil log2 62 + ceil log2 62) = 8 x 4096 = 32 Ki
    assert (first.kernel_memory_ki, first.neuron_memory_ki) == (128 / 1024, 32.0)
    # the linear layer as a 6x6 convolution over 12 channels: 12 x 2^(6 + 4) = 12 Ki
    assert linear.kernel == (6, 6) and linear.in_channels == 12 and linear.kernel_memory_ki == 12.0


def test_the_full_width_cifar_network_does_not_and_says_why():
    fit = chip_fit(CIFAR10AnalogueClassifier(), (3, 32, 32))
    assert not fit.fits
    text = fit.summary()
    assert "seq.1: Neuron memory is 96Ki" in text and "pooling (8, 8)" in text


@pytest.mark.parametrize("layer,problem", [
    (nn.Conv2d(1, 2, 17), "kernel (17, 17)"), (nn.Conv2d(1, 1100, 3), "1100 output channels"),
    (nn.Conv2d(1, 2, 3, stride=3), "stride (3, 3)"),
])
def test_each_limit_is_named(layer, problem):
    model = nn.Sequential(NeuromorphicReLU(), layer, NeuromorphicReLU())
    fit = chip_fit(model, (1, 40, 40))
    assert not fit.fits and any(problem in message for message in fit.problems)


def relu():
    return NeuromorphicReLU()


def one_layer(layer):
    """input activation, `layer`, its activation: the smallest chain a core runs."""
    return nn.Sequential(relu(), layer, relu())


def pooled(*poolings):
    """conv 1->2 3x3 (38x38 from 40x40), activation, `poolings` (layers 3, 4, ...), conv."""
    return nn.Sequential(relu(), nn.Conv2d(1, 2, 3), relu(), *poolings, nn.Conv2d(2, 2, 1),
                         relu())


# Each network below was reported as fitting Speck before sinabs' mapping rules were
# checked (issue 31, case 6); each breaks one rule: (model, input, layer named, problem).
BROKEN_RULES = {
    "non-square kernel": (one_layer(nn.Conv2d(1, 2, (3, 5))), (1, 40, 40), "1",
                          "kernel (3, 5) is not square"),
    "linear over a non-square map": (
        nn.Sequential(relu(), nn.Conv2d(1, 2, 3), relu(), nn.Flatten(), nn.Linear(96, 10),
                      relu()), (1, 8, 10), "4",
        "kernel (6, 8) (a linear layer's kernel is its whole input) is not square"),
    "dilation": (one_layer(nn.Conv2d(1, 2, 3, dilation=2)), (1, 40, 40), "1",
                 "dilation (2, 2)"),
    "groups": (one_layer(nn.Conv2d(2, 2, 3, groups=2)), (2, 40, 40), "1", "groups 2"),
    "padding over 7": (one_layer(nn.Conv2d(1, 2, 3, padding=8)), (1, 40, 40), "1",
                       "padding (8, 8) (at most 7 a side)"),
    "padding mode": (one_layer(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")),
                     (1, 40, 40), "1", "padding_mode 'reflect'"),
    "padding as a word": (one_layer(nn.Conv2d(1, 2, 3, padding="same")), (1, 40, 40), "1",
                          "padding 'same'"),
    "neurons over 64x64": (one_layer(nn.Conv2d(1, 2, 3, padding=1)), (1, 100, 100), "1",
                           "100x100 neurons per channel (a core holds at most 64x64)"),
    "input over 128x128": (one_layer(nn.Conv2d(1, 2, 3, stride=4)), (1, 256, 256), "input",
                           "input 256x256 (the chip takes at most 128x128"),
    "Conv1d": (one_layer(nn.Conv1d(1, 2, 1)), (1, 40), "1", "a Conv1d"),
    "AvgPool1d": (nn.Sequential(relu(), nn.Conv2d(1, 2, 3), relu(), nn.Flatten(2),
                                nn.AvgPool1d(2), nn.Unflatten(2, (19, 38)),
                                nn.Conv2d(2, 2, 1), relu()), (1, 40, 40), "4",
                  "AvgPool1d (sinabs maps nn.AvgPool2d and SumPool2d only)"),
    "pooling stride": (pooled(nn.AvgPool2d(2, stride=1)), (1, 40, 40), "3",
                       "pooling stride (1, 1) with kernel (2, 2)"),
    "pooling padding": (pooled(nn.AvgPool2d(2, padding=1)), (1, 40, 40), "3",
                        "pooling padding (1, 1)"),
    "pooling a partial window": (pooled(nn.AvgPool2d(4, ceil_mode=True)), (1, 40, 40), "3",
                                 "ceil_mode=True pools the partial windows at the edge of 38x38"),
    "consecutive poolings": (pooled(nn.AvgPool2d(4), nn.AvgPool2d(4)), (1, 40, 40), "3, 4",
                             "poolings (4, 4) then (4, 4) are one pooling (16, 16)"),
    "DVS pooling of 3 channels": (
        nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(3, 2, 3), relu()), (3, 40, 40), "0",
        "the chip's DVS layer, which takes 1 or 2 channels, not 3"),
    "weight layer without activation": (
        nn.Sequential(relu(), nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), relu()), (1, 40, 40),
        "1", "no activation after it"),
    "last layer without activation": (nn.Sequential(relu(), nn.Conv2d(1, 2, 3)), (1, 40, 40),
                                      "1", "no activation after it"),
    "activation not after a weight layer": (
        pooled(nn.AvgPool2d(2), relu()), (1, 40, 40), "4",
        "an activation after 3, not after a weight layer"),
    # N7: to_spiking cannot fold these BatchNorms, so neither can the chip have them
    "BatchNorm after an activation": (
        nn.Sequential(nn.ReLU(), nn.Conv2d(2, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten(),
                      nn.Linear(144, 10), nn.ReLU()), (2, 8, 8), "3",
        "a BatchNorm fed by 2 (ReLU) cannot be folded"),
    "BatchNorm without running statistics": (
        nn.Sequential(relu(), nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False),
                      relu()), (1, 40, 40), "2", "without running statistics"),
    # N8: sinabs divides the next weights by the kernel area whatever the divisor
    "average pooling divisor_override": (
        pooled(nn.AvgPool2d(2, divisor_override=1)), (1, 40, 40), "3",
        "divisor_override=1 (sinabs maps average pooling as sum pooling with the next "
        "weights divided by the kernel area, 4"),
    "average pooling count_include_pad=False with padding": (
        pooled(nn.AvgPool2d(2, padding=1, count_include_pad=False)), (1, 40, 40), "3",
        "pooling padding (1, 1)"),
}


@pytest.mark.parametrize("model,input_shape,layer,problem", BROKEN_RULES.values(),
                         ids=BROKEN_RULES.keys())
def test_each_sinabs_mapping_rule_is_named_with_its_layer(model, input_shape, layer, problem):
    fit = chip_fit(model, input_shape)
    assert not fit.fits
    assert any(message.startswith(f"{layer}: ") or message.startswith(f"{layer} ")
               for message in fit.problems if problem in message), fit.problems


class ConvUsedTwice(nn.Module):
    """A convolution whose output feeds a BatchNorm and, past it, an activation."""

    def __init__(self):
        super().__init__()
        self.input, self.conv, self.norm = relu(), nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)
        self.relu, self.skip = relu(), relu()

    def forward(self, data):
        out = self.conv(self.input(data))
        return self.relu(self.norm(out)) + self.skip(out)


BATCHNORMS = {  # (model, input, the BatchNorm's name or None where it folds)
    "after a convolution": (nn.Sequential(relu(), nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2),
                                          relu()), (1, 40, 40), None),
    "after a linear layer": (nn.Sequential(relu(), nn.Flatten(), nn.Linear(16, 4),
                                           nn.BatchNorm1d(4), relu()), (1, 4, 4), None),
    "after an activation": BROKEN_RULES["BatchNorm after an activation"][:2] + ("3",),
    "on the input": (nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 2, 3), relu()),
                     (1, 40, 40), "0"),
    "after a convolution used elsewhere": (ConvUsedTwice(), (1, 40, 40), "norm"),
    "without running statistics":
        BROKEN_RULES["BatchNorm without running statistics"][:2] + ("2",),
}


@pytest.mark.filterwarnings("ignore:to_spiking. the network has biases")
@pytest.mark.parametrize("model,input_shape,norm", BATCHNORMS.values(), ids=BATCHNORMS.keys())
def test_a_batchnorm_fits_exactly_when_to_spiking_folds_it(model, input_shape, norm):
    """chip_fit names a BatchNorm where, and only where, to_spiking's fold refuses it."""
    fit = chip_fit(model, input_shape)
    named = [message for message in fit.problems if "BatchNorm" in message]
    if norm is None:
        to_spiking(model, input_shape)
        assert named == [] and fit.fits, fit.problems
    else:
        with pytest.raises(UnsupportedLayer):
            to_spiking(model, input_shape)
        assert len(named) == 1 and named[0].startswith(f"{norm}: "), fit.problems
        assert "put it right after" in named[0] or "track_running_stats=True" in named[0]


def test_chip_fit_leaves_a_training_model_and_its_batchnorm_statistics_as_they_were():
    """The chain check runs the model in eval mode: no running statistics updated by its
    probe, and a BatchNorm1d after a linear layer is no 'branch' (a batch of one)."""
    model = BATCHNORMS["after a linear layer"][0].train()
    norm = model[3]
    before = (norm.running_mean.clone(), norm.running_var.clone(), int(norm.num_batches_tracked))
    fit = chip_fit(model, (1, 4, 4))
    assert fit.fits, fit.problems
    assert model.training and torch.equal(norm.running_mean, before[0]) and \
        torch.equal(norm.running_var, before[1]) and int(norm.num_batches_tracked) == before[2]


@pytest.mark.parametrize("pooling", [nn.AvgPool2d(2), nn.AvgPool2d(2, divisor_override=4),
                                     nn.AvgPool2d(2, count_include_pad=False)],
                         ids=["default", "divisor_override = kernel area",
                              "count_include_pad=False without padding"])
def test_average_pooling_as_sinabs_maps_it_fits(pooling):
    """The options sinabs' extract_pooling_from_module ignores, where they change nothing."""
    fit = chip_fit(pooled(pooling), (1, 40, 40))
    assert fit.fits, fit.problems


def test_the_paper_mnist_dvs_network_breaks_no_mapping_rule():
    """Its input NeuromorphicReLU (the input events) comes before any weight layer, its
    3x3 kernels and 2x2 average poolings are what the chip takes, 62x62 neurons at most."""
    fit = chip_fit(MNISTDVSNet(), (1, 64, 64))
    assert fit.problems == [] and fit.summary().startswith("fits speck")


def test_chip_weights_are_integers_over_an_integer_threshold():
    torch.manual_seed(0)
    model = MNISTDVSNet()
    quantized = quantized_for_chip(model, (1, 64, 64))
    for original, chip_layer, area in ((model.seq[0], quantized.seq[0], 1),
                                       (model.seq[3], quantized.seq[3], 4)):
        effective = original.weight / area  # sum pooling on the chip: weights / area
        threshold = float(int(127 / effective.abs().max()))  # the largest that fits 8 bits
        integers = chip_layer.weight / area * threshold
        torch.testing.assert_close(integers, torch.round(integers), atol=1e-4, rtol=0)
        assert 64 <= integers.abs().max().round().item() <= 127
        # within half a step of the original
        assert (chip_layer.weight - original.weight).abs().max() <= area * 0.5 / threshold + 1e-6
    assert SPECK.weight_bits == 8

"""synoploss.hardware.chips: the Speck fit by sinabs' memory formula, and the
chip's 8-bit weights."""
import pytest
import torch
import torch.nn as nn

from synoploss.hardware.chips import SPECK, chip_fit, quantized_for_chip
from synoploss.models import CIFAR10AnalogueClassifier, MNISTDVSNet
from synoploss.quantize import NeuromorphicReLU


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

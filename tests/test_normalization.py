import numpy as np
import pytest
import torch
import torch.nn as nn

from synoploss.normalization import activation_percentiles, normalise_weights
from synoploss.quantize import NeuromorphicReLU


def chain(bias=False):
    torch.manual_seed(0)
    return nn.Sequential(NeuromorphicReLU(False), nn.Conv2d(1, 4, 3, bias=bias),
                         NeuromorphicReLU(False), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 6, bias=bias), NeuromorphicReLU(False),
                         nn.Linear(6, 3, bias=bias), NeuromorphicReLU(False))


@pytest.mark.parametrize("level", [1.0, 8.0, 50.0])
@pytest.mark.parametrize("percentile", [99.99, 90.0])
def test_every_layer_reaches_the_level(level, percentile):
    frames = torch.rand(300, 1, 8, 8) * 4
    model = chain()
    before = activation_percentiles(model, frames, percentile)
    assert len(before) == 3  # the input ReLU precedes every weight layer: not counted
    reference = model(frames).argmax(1)
    normalise_weights(model, before, level)
    after = activation_percentiles(model, frames, percentile)
    np.testing.assert_allclose(after, [level] * 3, rtol=1e-4)
    # positive per-layer factors in a bias-free ReLU chain keep the decision
    assert torch.equal(model(frames).argmax(1), reference)


def test_rejects_biases_and_wrong_lengths():
    with pytest.raises(ValueError, match="bias-free"):
        normalise_weights(chain(bias=True), [1.0, 1.0, 1.0], 4.0)
    with pytest.raises(ValueError, match="2 percentiles for 3 weight layers"):
        normalise_weights(chain(), [1.0, 1.0], 4.0)

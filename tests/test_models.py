import pytest
import torch
import torch.nn as nn
from sinabs.hooks import conv_connection_map

from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, set_quantize
from synoploss.quantize import NeuromorphicReLU
from synoploss.training import load_state


def original_mnist_dvs_state():
    """A state dict laid out as the original code's MNISTClassifier.seq."""
    seq = nn.Sequential(nn.Conv2d(1, 8, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Conv2d(8, 12, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Conv2d(12, 12, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(432, 10, bias=False), nn.ReLU())
    return {f"seq.{key}": value for key, value in seq.state_dict().items()}


def test_mnist_dvs_keys_and_original_checkpoint(tmp_path):
    model = MNISTDVSNet()
    assert sorted(model.state_dict()) == ["seq.0.weight", "seq.11.weight", "seq.3.weight",
                                          "seq.6.weight"]
    state = original_mnist_dvs_state()
    torch.save(state, tmp_path / "original.pth")
    load_state(model, tmp_path / "original.pth")
    assert torch.equal(model.seq[11].weight, state["seq.11.weight"])


def test_mnist_dvs_fanouts_are_exact():
    model = MNISTDVSNet()
    summary = {s.name: s for s in model.fanout_summary}
    # input: conv 1->8 3x3 without padding; sinabs' connection map is the reference
    reference = conv_connection_map(model.seq[0], (1, 64, 64), (8, 62, 62))[0]
    assert torch.equal(model.input_relu.fanout, reference)
    assert summary["input_relu"].max_fanout == 72 and model.input_relu.fanout[0, 0, 0] == 8
    # the paper's hand-typed fan-outs are the interior maxima: 72, 108, 108, 10
    assert [s.max_fanout for s in model.fanout_summary] == [72, 108, 108, 10, 0]
    # conv2 input 8x31x31 after pooling 62 -> 31; conv3 12x14x14 (29 -> 14 drops a row)
    assert summary["seq.4"].activation_shape == (12, 29, 29)
    assert model.seq[4].fanout[:, -1, :].abs().sum() == 0  # the dropped row feeds nothing


def test_wrong_architecture_checkpoint(tmp_path):
    state = original_mnist_dvs_state()
    state["seq.3.weight"] = torch.zeros(16, 8, 3, 3)
    del state["seq.11.weight"]
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth: checkpoint does not fit MNISTDVSNet "
                                         r"\(missing \['seq.11.weight'\]; wrong shapes"):
        load_state(MNISTDVSNet(), tmp_path / "other.pth")


def test_set_quantize():
    model = set_quantize(MNISTDVSNet(quantize=False), True)
    assert all(layer.quantize for layer in model.modules() if isinstance(layer, NeuromorphicReLU))
    data = torch.rand(2, *MNIST_DVS_INPUT) * 3
    model.eval()
    output = model(data)
    assert torch.equal(output, output.floor())

import pytest
import torch
import torch.nn as nn
from sinabs.hooks import conv_connection_map

from synoploss.io import load_state
from synoploss.models import (
    MNIST_DVS_INPUT,
    CIFAR10AnalogueClassifier,
    MNISTDVSNet,
    first_weight_layer,
    scale_first_layer,
    set_quantize,
)
from synoploss.quantize import NeuromorphicReLU


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


def two_class_standin(count, seed, classes=(0, 6)):
    """Normalised stand-in images of two classes (disc, vertical bars) and their labels."""
    import numpy as np

    from synoploss.data.cifar10 import cifar_transforms, standin_images
    images, labels = standin_images(count * 5, seed)
    keep = np.isin(labels, classes)
    data = torch.stack([cifar_transforms(train=False)(image) for image in images[keep]])
    return data, torch.as_tensor(labels[keep])


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_cifar_network_starts_with_logits_of_kaimings_size(width):
    """The paper's network with its (Kaiming-normal) initialisation: initial logits that
    are finite, differ between images and have Kaiming's size. Measured over seeds 0-2:
    a logit standard deviation of 10.6-19.4 at width 0.25 and 12.2-20.2 at width 1.0;
    with the readout started 8x smaller (the bug of issue #10, which kept the full-width
    network at chance) 1.3-2.4 and 1.5-2.5. The bound 5 lies between them."""
    import torch.nn.functional as F

    from synoploss.models import CIFAR10AnalogueClassifier
    torch.manual_seed(0)
    test_data, test_labels = two_class_standin(200, seed=99)
    model = CIFAR10AnalogueClassifier(width=width, dropout_rate=(0.0, 0.0)).eval()
    with torch.no_grad():
        logits = model(test_data)
    assert torch.isfinite(logits).all()
    assert 5 < logits.std() < 100 and logits.std(0).min() > 0.1
    assert F.cross_entropy(logits, test_labels) < 200


def test_the_narrow_cifar_network_learns():
    """A short Adam run (the paper's optimiser, lr 1e-3, 32 images a step, no dropout to
    keep it short) on two stand-in classes lifts held-out accuracy above the 50% chance
    level. Measured at 8 epochs over seeds 0-5: 61.5-89.5%, mean 75%; the test takes the
    mean of seeds 0-2 (measured 74%) and asks for 60%, about 2.5 standard deviations of
    a three-seed mean below the measured one. (The full-width network is slower to start:
    50-63% at 7 epochs; its initialisation is checked above instead.)"""
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from synoploss.models import CIFAR10AnalogueClassifier
    train_data, train_labels = two_class_standin(256, seed=0)
    test_data, test_labels = two_class_standin(200, seed=99)
    accuracies = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = CIFAR10AnalogueClassifier(width=0.25, dropout_rate=(0.0, 0.0))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3)
        loader = DataLoader(TensorDataset(train_data, train_labels), 32, shuffle=True)
        model.train()
        for _ in range(8):
            for data, target in loader:
                optimizer.zero_grad()
                F.cross_entropy(model(data), target).backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracies.append((model(test_data).argmax(1) == test_labels).float().mean().item())
    assert sum(accuracies) / 3 >= 0.60, f"held-out accuracies {accuracies} (chance 0.5)"


@pytest.mark.parametrize("network,expected", [
    (lambda: MNISTDVSNet(), lambda model: model.seq[0]),
    (lambda: CIFAR10AnalogueClassifier(width=0.1), lambda model: model.seq[1]),  # after dropout
])
def test_first_weight_layer_is_found_not_typed(network, expected):
    model = network()
    assert first_weight_layer(model) is expected(model)
    before = expected(model).weight.detach().clone()
    scale_first_layer(model, 2.5)
    torch.testing.assert_close(expected(model).weight.detach(), before * 2.5)


def test_pytorch_init_is_pytorchs_default_and_kaiming_is_not():
    torch.manual_seed(3)
    default = MNISTDVSNet(init="pytorch")
    torch.manual_seed(3)
    reference = nn.Conv2d(1, 8, kernel_size=3, bias=False)  # PyTorch's own initialisation
    torch.testing.assert_close(default.seq[0].weight, reference.weight)
    torch.manual_seed(3)
    kaiming = MNISTDVSNet()
    # Kaiming-uniform (gain sqrt 2) spans sqrt(6 / fan_in); PyTorch's default sqrt(1 / fan_in)
    assert kaiming.seq[0].weight.abs().max() > 1.5 * default.seq[0].weight.abs().max()
    with pytest.raises(ValueError, match="init must be one of"):
        MNISTDVSNet(init="xavier")


@pytest.mark.parametrize("width", [1.0, 0.5, 0.25, 0.125, 0.1, 0.3])
def test_cifar_width_is_read_back_from_the_weights(width):
    state = CIFAR10AnalogueClassifier(width=width).state_dict()
    found = CIFAR10AnalogueClassifier.width_of(state)
    # the same channel counts (the width itself may differ where channels were rounded)
    assert CIFAR10AnalogueClassifier(width=found).state_dict()["seq.7.weight"].shape \
        == state["seq.7.weight"].shape
    assert CIFAR10AnalogueClassifier(width=found).state_dict()["seq.1.weight"].shape \
        == state["seq.1.weight"].shape
    with pytest.raises(ValueError, match="not a CIFAR10AnalogueClassifier"):
        CIFAR10AnalogueClassifier.width_of({"seq.0.weight": state["seq.1.weight"]})

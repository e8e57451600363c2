"""synoploss.hardware.nir_export: a NIR file read back by sinabs gives the same output spikes."""
import sinabs
import torch
from torch.utils.data import DataLoader

from synoploss.data.cifar10 import load_cifar10
from synoploss.data.mnist_dvs import SpikeTrainDataset, pad_collate
from synoploss.hardware.nir_export import export_nir, import_nir, nir_sequential
from synoploss.models import CIFAR10_INPUT, MNIST_DVS_INPUT, CIFAR10AnalogueClassifier, MNISTDVSNet
from synoploss.spiking import StaticInputBatches, to_spiking
from synoploss.spiking.sinabs_run import run_steps


def output_spikes(network, data):
    """Output spikes summed over time of (B, T, ...) data, from rest."""
    batch, steps = data.shape[:2]
    sinabs.utils.reset_states(network)
    return network(data.reshape(batch * steps, *data.shape[2:])).reshape(batch, steps, -1).sum(1)


def mnist_dvs_net():
    torch.manual_seed(0)
    model = MNISTDVSNet(quantize=True)
    with torch.no_grad():  # random weights, scaled so that every layer spikes
        for layer in (model.seq[0], model.seq[3], model.seq[6], model.seq[11]):
            layer.weight.mul_(4)
    return model


def test_mnist_dvs_round_trip_on_test_chunks(tiny_mnist_dvs, tmp_path):
    model = mnist_dvs_net()
    net = to_spiking(model, MNIST_DVS_INPUT)  # no lower bound on the membrane potential
    export_nir(net, MNIST_DVS_INPUT, tmp_path / "mnist_dvs.nir")
    chunks = SpikeTrainDataset(tiny_mnist_dvs / "test", max_samples=6)
    data, _ = next(iter(DataLoader(chunks, 6, collate_fn=pad_collate)))
    reference = run_steps(net, data).sum(1)
    assert reference.sum() > 0
    back = import_nir(tmp_path / "mnist_dvs.nir", batch_size=6, min_v_mem=None)
    assert torch.equal(output_spikes(back, data), reference)
    # sinabs' import alone bounds the membrane potential at -threshold: other spikes
    bounded = import_nir(tmp_path / "mnist_dvs.nir", batch_size=6, min_v_mem=-1.0)
    assert not torch.equal(output_spikes(bounded, data), reference)


def test_cifar_round_trip_on_standin_images(tmp_path):
    torch.manual_seed(0)
    model = CIFAR10AnalogueClassifier(quantize=True, width=0.1).eval()
    with torch.no_grad():
        model.seq[1].weight.mul_(2)
    net = to_spiking(model, CIFAR10_INPUT, min_v_mem=-1.0)
    export_nir(net, CIFAR10_INPUT, tmp_path / "cifar.nir")
    _, test_set, _ = load_cifar10(tmp_path / "none", standin=True, n_train=0, n_test=4)
    data, _ = next(iter(StaticInputBatches(DataLoader(test_set, 4), steps=5)))
    reference = run_steps(net, data).sum(1)
    back = import_nir(tmp_path / "cifar.nir", batch_size=4, min_v_mem=-1.0)
    assert torch.equal(output_spikes(back, data), reference)


def test_average_pooling_is_folded_into_the_next_weights():
    net = to_spiking(mnist_dvs_net(), MNIST_DVS_INPUT)
    folded = nir_sequential(net.spiking_model)
    kinds = [type(layer).__name__ for layer in folded]
    assert "AvgPool2d" not in kinds and "Dropout2d" not in kinds
    assert kinds.count("SumPool2d") == 3
    original_conv = net.spiking_model[4]
    folded_conv = [layer for layer in folded if isinstance(layer, torch.nn.Conv2d)][1]
    assert torch.equal(folded_conv.weight, original_conv.weight / 4)  # 2x2 pooling
    assert torch.equal(net.spiking_model[4].weight, original_conv.weight)  # a copy

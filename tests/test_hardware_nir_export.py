"""synoploss.hardware.nir_export: a NIR file read back by sinabs gives the same output spikes."""
import warnings

import pytest
import sinabs
import sinabs.layers as sl
import torch
from sinabs.activation import MaxSpike, SingleSpike
from torch.utils.data import DataLoader

from synoploss.data.cifar10 import load_cifar10
from synoploss.data.mnist_dvs import SpikeTrainDataset, pad_collate
from synoploss.hardware.nir_export import export_nir, import_nir, nir_sequential
from synoploss.models import CIFAR10_INPUT, MNIST_DVS_INPUT, CIFAR10AnalogueClassifier, MNISTDVSNet
from synoploss.quantize import SumPool2d
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


# Issue 31, case 7: every pooling and convolution option is exported as what the network
# does (the round trip gives the same spikes) or refused by layer with the change to make.
SMALL_INPUT = (2, 9, 9)


def small_net(*makers, **to_spiking_options):
    """`to_spiking` of the chain of the layers `makers` make (seeded), a ReLU after each
    convolution and a linear readout, its weights scaled so that every layer spikes."""
    torch.manual_seed(0)
    chain = []
    for make in makers:
        chain.append(make())
        if isinstance(chain[-1], torch.nn.Conv2d):
            chain.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*chain, torch.nn.Flatten(), torch.nn.LazyLinear(5),
                                torch.nn.ReLU())
    model(torch.zeros(1, *SMALL_INPUT))
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                layer.weight.mul_(3)
                layer.bias.zero_()
    return to_spiking(model, SMALL_INPUT, **to_spiking_options)


def spike_trains(batch=2, steps=8):
    generator = torch.Generator().manual_seed(1)
    return torch.poisson(torch.full((batch, steps, *SMALL_INPUT), 0.7), generator=generator)


def assert_round_trip(net, path, drop_synop_hooks=False, spike_fn="multi"):
    """Export, read back with import_nir(..., spike_fn): the same output spikes at every
    step; returns (reference, data). `drop_synop_hooks`: after the export, run the
    reference without sinabs' SynOp hooks (which cannot run a 'same' convolution)."""
    export_nir(net, SMALL_INPUT, path)
    if drop_synop_hooks:
        for layer in net.spiking_model:
            layer._forward_hooks.clear()
    data = spike_trains()
    with torch.no_grad():
        reference = run_steps(net, data)
        spikes = imported_spikes(import_nir(path, batch_size=data.shape[0], spike_fn=spike_fn),
                                 data)
    assert reference.sum() > 0
    assert torch.equal(spikes, reference)
    return reference, data


def imported_spikes(back, data):
    """The output spikes at every step of an imported network, from rest."""
    sinabs.utils.reset_states(back)
    with torch.no_grad():
        return back(data.reshape(-1, *SMALL_INPUT)).reshape(data.shape[0], data.shape[1], -1)


def conv(**options):
    """A convolution maker, 2 to 4 channels, kernel 3 unless given."""
    kernel_size = options.pop("kernel_size", 3)
    return lambda: torch.nn.Conv2d(2, 4, kernel_size, **options)


def layer(kind, *args, **options):
    return lambda: kind(*args, **options)


@pytest.mark.parametrize("pooling", [
    layer(SumPool2d, 2, padding=1),
    layer(SumPool2d, 3, stride=2, padding=1, ceil_mode=True),  # 9 + 2 - 3 fits stride 2
    layer(torch.nn.AvgPool2d, 2, padding=1),
    layer(torch.nn.AvgPool2d, 3, stride=2, padding=1, ceil_mode=True),
    layer(torch.nn.AvgPool2d, 2, divisor_override=2),
], ids=["SumPool2d padding", "SumPool2d padding, ceil_mode adding nothing",
        "AvgPool2d padding", "AvgPool2d padding, ceil_mode adding nothing",
        "AvgPool2d divisor_override"])
def test_pooling_options_survive_the_round_trip(pooling, tmp_path):
    assert_round_trip(small_net(conv(padding=1), pooling), tmp_path / "net.nir")


@pytest.mark.parametrize("convolution", [
    conv(padding="same"),
    conv(padding="valid"),
    conv(padding=1, groups=2),
], ids=["padding same", "padding valid", "groups"])
def test_convolution_options_survive_the_round_trip(convolution, tmp_path):
    net = small_net(convolution, layer(SumPool2d, 2))
    assert_round_trip(net, tmp_path / "net.nir", drop_synop_hooks=True)


@pytest.mark.parametrize("pooling, message", [
    (layer(SumPool2d, 2, ceil_mode=True), r"spiking_model\[2\] \(SumPool2d.*ceil_mode=False"),
    (layer(torch.nn.AvgPool2d, 2, ceil_mode=True),
     r"spiking_model\[2\] \(AvgPool2d.*ceil_mode=False"),
    (layer(sl.SumPool2d, 2, ceil_mode=True), r"spiking_model\[2\] \(SumPool2d.*ceil_mode=False"),
    (layer(torch.nn.AvgPool2d, 2, padding=1, count_include_pad=False),
     r"spiking_model\[2\] \(AvgPool2d.*count_include_pad=True"),
], ids=["SumPool2d ceil_mode", "AvgPool2d ceil_mode", "sinabs SumPool2d ceil_mode",
        "AvgPool2d count_include_pad=False"])
def test_pooling_nir_cannot_say_is_refused_by_layer(pooling, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export_nir(small_net(conv(padding=1), pooling), SMALL_INPUT, tmp_path / "net.nir")
    assert not (tmp_path / "net.nir").exists()


@pytest.mark.parametrize("convolution, message", [
    (conv(padding=1, padding_mode="reflect"), r"spiking_model\[0\] \(Conv2d.*'zeros'"),
    (conv(padding=1, padding_mode="circular"), r"spiking_model\[0\] \(Conv2d.*'zeros'"),
    (conv(kernel_size=2, padding="same"), r"spiking_model\[0\] \(Conv2d.*odd kernel"),
], ids=["reflect", "circular", "same with an even kernel"])
def test_convolution_padding_nir_cannot_say_is_refused_by_layer(convolution, message,
                                                                tmp_path):
    # the convolution put into a converted network (to_spiking refuses an uneven 'same'
    # itself): export_nir's own check, whatever made the network
    net = small_net(conv(padding=1), layer(SumPool2d, 2))
    net.spiking_model[0] = convolution()
    with pytest.raises(ValueError, match=message):
        export_nir(net, SMALL_INPUT, tmp_path / "net.nir")


# Issue 31, case 12: export works whatever ran on the network before, and leaves it as it was.
def ran_a_batch_of_three(net, grad):
    with torch.set_grad_enabled(grad):
        run_steps(net, spike_trains(batch=3, steps=4))
    return net


@pytest.mark.parametrize("make", [
    lambda: ran_a_batch_of_three(small_net(conv(padding=1), layer(SumPool2d, 2)), grad=False),
    lambda: ran_a_batch_of_three(small_net(conv(padding=1), layer(SumPool2d, 2)), grad=True),
    lambda: small_net(conv(padding=1), layer(SumPool2d, 2), batch_size=4),
    lambda: small_net(conv(padding=1), layer(SumPool2d, 2), num_timesteps=5),
], ids=["after a batch of 3", "after a batch of 3 with gradients", "made for batch_size=4",
        "made for num_timesteps=5"])
def test_export_after_any_run_leaves_the_network_as_it_was(make, tmp_path):
    net = make()
    layers = [layer for layer in net.spiking_model if isinstance(layer, sl.IAFSqueeze)]
    before = [(layer.batch_size, layer.num_timesteps, layer.v_mem.clone()) for layer in layers]
    export_nir(net, SMALL_INPUT, tmp_path / "net.nir")
    after = [(layer.batch_size, layer.num_timesteps, layer.v_mem) for layer in layers]
    for (size, steps, v_mem), (size_now, steps_now, v_mem_now) in zip(before, after, strict=True):
        assert (size, steps) == (size_now, steps_now) and torch.equal(v_mem, v_mem_now)
    assert_round_trip(net, tmp_path / "again.nir")


def test_a_network_with_its_own_forward_is_refused_by_name(tmp_path):
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
            self.relu = torch.nn.ReLU()

        def forward(self, data):
            return self.relu(self.conv(data) + data)

    net = to_spiking(Residual(), SMALL_INPUT)
    with pytest.raises(ValueError, match="Residual computes its own forward"):
        export_nir(net, SMALL_INPUT, tmp_path / "net.nir")


# N11: NIR's IF node has no spike function; sinabs reads every one as MultiSpike.
def test_a_single_spike_network_warns_and_round_trips_with_spike_fn_single(tmp_path):
    net = small_net(conv(padding=1), layer(SumPool2d, 2), spike_fn="single")
    with pytest.warns(UserWarning, match=r"import_nir\(path, \.\.\., spike_fn='single'\)"):
        reference, data = assert_round_trip(net, tmp_path / "net.nir", spike_fn="single")
    back = import_nir(tmp_path / "net.nir", batch_size=data.shape[0], spike_fn="single")
    spiking = [layer for layer in back.modules() if isinstance(layer, sl.IAFSqueeze)]
    assert len(spiking) == 2 and all(layer.spike_fn is SingleSpike for layer in spiking)
    # read back as sinabs reads it (several spikes per step): another network
    multi = import_nir(tmp_path / "net.nir", batch_size=data.shape[0])
    assert not torch.equal(imported_spikes(multi, data), reference.reshape(data.shape[0],
                                                                           data.shape[1], -1))


def test_a_multi_spike_network_exports_without_a_spike_warning(tmp_path):
    net = small_net(conv(padding=1), layer(SumPool2d, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_round_trip(net, tmp_path / "net.nir")
    assert not [warning for warning in caught if "spike_fn" in str(warning.message)]


def test_mixed_spike_functions_are_refused_by_layer(tmp_path):
    net = small_net(conv(padding=1), layer(SumPool2d, 2))  # spiking layers 1 and 5
    net.spiking_model[5].spike_fn = SingleSpike
    with pytest.raises(ValueError, match=r"spiking_model\[5\] \(IAFSqueeze\) spikes at most "
                       r"once.*spiking_model\[1\] \(IAFSqueeze\) several.*one spike_fn"):
        export_nir(net, SMALL_INPUT, tmp_path / "net.nir")
    assert not (tmp_path / "net.nir").exists()


def test_a_spike_function_import_nir_cannot_make_is_refused_by_layer(tmp_path):
    net = small_net(conv(padding=1), layer(SumPool2d, 2))
    net.spiking_model[1].spike_fn = MaxSpike(2)
    with pytest.raises(ValueError, match=r"spiking_model\[1\] \(IAFSqueeze\): spike function "
                       r"MaxSpike.*spike_fn='multi' or 'single'"):
        export_nir(net, SMALL_INPUT, tmp_path / "net.nir")
    assert not (tmp_path / "net.nir").exists()


def test_import_nir_refuses_an_unknown_spike_fn(tmp_path):
    export_nir(small_net(conv(padding=1), layer(SumPool2d, 2)), SMALL_INPUT,
               tmp_path / "net.nir")
    with pytest.raises(ValueError, match="spike_fn must be one of"):
        import_nir(tmp_path / "net.nir", spike_fn="max")

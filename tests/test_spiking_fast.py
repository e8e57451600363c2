"""The fast simulator against sinabs, the oracle: the same output spikes at every step,
the same predictions, SynOps per weight layer equal to float32 summation error, and
NeuroBench's metrics equal to those the hooks count in a sinabs run."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from synoploss.data.cifar10 import standin_images
from synoploss.data.events import EventBatch
from synoploss.models import (
    CIFAR10_INPUT,
    MNIST_DVS_INPUT,
    MNIST_INPUT,
    CIFAR10AnalogueClassifier,
    MNISTDVSNet,
    MNISTQuantNet,
    scale_first_layer,
)
from synoploss.quantize import NeuromorphicReLU, QuantizeLayer, SumPool2d
from synoploss.spiking import (
    Simulation,
    StaticInputBatches,
    evaluate,
    spiking_layers,
    to_spiking,
)
from synoploss.spiking.fast import UnsupportedNetwork, compile_network, run_batch
from synoploss.spiking.fast.cpu import simulate
from synoploss.spiking.fast.cuda import scan
from synoploss.spiking.fast.cuda import simulate as cuda_simulate
from synoploss.spiking.neurobench_metrics import NeuroBenchTally, neurobench_metrics
from synoploss.spiking.sinabs_run import hook_synops, run_steps


def sinabs_reference(net, data):
    """sinabs' output at every step and its SynOps per weight layer, summed over samples."""
    with torch.no_grad():
        output = run_steps(net, data)
    return output, np.array(hook_synops(net, *data.shape[:2]))


def events(batch, steps, shape, density, seed, counts=(1, 2)):
    """Sparse event rasters (B, T, *shape) of spike counts."""
    generator = torch.Generator().manual_seed(seed)
    active = torch.rand(batch, steps, *shape, generator=generator) < density
    values = torch.randint(counts[0], counts[1] + 1, (batch, steps, *shape), generator=generator)
    return active * values.float()


# SynOps agree to float32 summation error (sinabs sums its hook's products in float32),
# and to one spike more or less in a hidden layer: where three or more inputs reach a
# neuron in one step, the two float32 sums can differ in the last bit, and a membrane
# that lands within that bit of the threshold spikes in one simulator only (module
# docstring; test_three_terms_follow_the_event_order). Seen here: 1 spike in 50,000.
SYNOPS_RTOL = 1e-4


def assert_same(net, data, input_shape, threads=1):
    """Fast simulator == sinabs: every output spike at every step, and the SynOps."""
    expected, expected_synops = sinabs_reference(net, data)
    result = simulate(compile_network(net, input_shape), data, threads=threads)
    assert torch.equal(result.output, expected), \
        f"{int((result.output != expected).sum())} output values differ"
    np.testing.assert_allclose(result.layer_synops.sum(0), expected_synops, rtol=SYNOPS_RTOL,
                               atol=1e-3)
    return result, expected


def mnist_dvs(seed, quantize=True, scale=1.0, **kwargs):
    torch.manual_seed(seed)
    model = MNISTDVSNet(quantize=quantize, fanout="exact", **kwargs)
    return scale_first_layer(model, scale)


@pytest.mark.parametrize("spike_fn", ["multi", "single"])
@pytest.mark.parametrize("min_v_mem", [None, -1.0, -0.25])
@pytest.mark.parametrize("scale", [4.0, 8.0])
def test_mnist_dvs_network(spike_fn, min_v_mem, scale):
    """The paper's MNIST-DVS network on sparse event rasters (Kaiming weights, the first
    layer x4 or x8: Kaiming weights alone leave the output silent on random events; at x8
    layers fire several spikes per step)."""
    model = mnist_dvs(seed=3, scale=scale)
    net = to_spiking(model, MNIST_DVS_INPUT, min_v_mem=min_v_mem, spike_fn=spike_fn)
    data = events(3, 12, MNIST_DVS_INPUT, density=0.03, seed=1)
    result, expected = assert_same(net, data, MNIST_DVS_INPUT)
    assert expected.sum() > 0, "the test would show nothing: no output spikes"
    if scale > 4 and spike_fn == "multi":
        assert result.spike_counts[:, 1].max() > 0
        assert float(expected.max()) > 1, "no step with several output spikes"


def test_trained_mnist_dvs_network(tiny_mnist_dvs):
    """A network trained a few steps on the emulated recordings, on their own test chunks
    (batched by duration, so with padded steps)."""
    from torch.utils.data import DataLoader

    from synoploss.data.mnist_dvs import FramesDataset, SpikeTrainDataset
    from synoploss.experiments.training import fit
    torch.manual_seed(0)
    model = MNISTDVSNet(quantize=True, fanout="exact")
    fit(model, DataLoader(FramesDataset(tiny_mnist_dvs / "train"), 16, shuffle=True), 2, 2e-3,
        progress=False)
    net = to_spiking(model, MNIST_DVS_INPUT)
    chunks = SpikeTrainDataset(tiny_mnist_dvs / "test")
    sinabs_result = evaluate(net, chunks.loader(8), keep_output=True)
    fast_result = evaluate(net, chunks.loader(8), keep_output=True, threads=2, simulator="fast")
    np.testing.assert_array_equal(fast_result.output_spikes, sinabs_result.output_spikes)
    np.testing.assert_array_equal(fast_result.predictions, sinabs_result.predictions)
    np.testing.assert_allclose(fast_result.layer_synops, sinabs_result.layer_synops,
                               rtol=SYNOPS_RTOL)
    for data, _ in chunks.loader(8):
        assert_same(net, data, MNIST_DVS_INPUT, threads=2)


@pytest.mark.parametrize("last_layer_relu", [True, False])
def test_cifar10_network_on_static_input(last_layer_relu):
    """CIFAR-10: the first convolution gets the image (a constant current over 10 steps),
    bound -1, the sum pooling after the last spiking layer; without the output ReLU the
    last convolution too runs after the last spiking layer."""
    torch.manual_seed(1)
    model = CIFAR10AnalogueClassifier(quantize=True, width=0.1, fanout="exact",
                                      last_layer_relu=last_layer_relu).eval()
    scale_first_layer(model, 5.0)
    images, labels = standin_images(6, seed=2)
    data = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    labels = torch.from_numpy(labels)
    batches = StaticInputBatches([(data, labels)], steps=10)
    (batch, _), = list(batches)
    assert batch.stride(1) == 0  # expanded: the simulator computes the first layer once
    net = to_spiking(model, CIFAR10_INPUT, min_v_mem=-1.0)
    _, expected = assert_same(net, batch, CIFAR10_INPUT)
    assert expected.abs().sum() > 0


def test_mnist_quant_network_with_biases():
    """Biases divided by the number of steps (bias_rescaling), added at every step."""
    torch.manual_seed(2)
    model = MNISTQuantNet(quantize=True, fanout="exact")
    for parameter in model.parameters():  # PyTorch's initialisation leaves it silent
        nn.init.uniform_(parameter, -0.2, 0.3)  # about 1 output spike per step
    images = torch.rand(4, *MNIST_INPUT)
    steps = 20
    net = to_spiking(model, MNIST_INPUT, bias_rescaling=steps)
    batch, = [data for data, _ in StaticInputBatches([(images, torch.zeros(4))], steps, 3.0)]
    _, expected = assert_same(net, batch, MNIST_INPUT)
    assert expected.sum() > 0


class Custom(nn.Module):
    """Strided, padded, dilated and grouped convolutions, 3x3 average pooling with
    stride 3, sum pooling with padding, and a linear tail."""

    SHAPE = (2, 25, 21)

    def __init__(self):
        super().__init__()
        features = nn.Sequential(
            NeuromorphicReLU(),
            nn.Conv2d(2, 6, 3, stride=2, padding=1, bias=False), NeuromorphicReLU(),
            nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=2, bias=True), NeuromorphicReLU(),
            nn.AvgPool2d(3, stride=3),
            nn.Conv2d(6, 4, (2, 3), padding=(1, 0), bias=False), NeuromorphicReLU(),
            SumPool2d(2, stride=1, padding=1), nn.Flatten())
        width = features(torch.zeros(1, *self.SHAPE)).shape[1]
        self.seq = nn.Sequential(*features, nn.Linear(width, 7), NeuromorphicReLU(),
                                 nn.Linear(7, 3, bias=False), QuantizeLayer())

    def forward(self, data):
        return self.seq(data)


@pytest.mark.parametrize("density", [0.05, 0.6])
@pytest.mark.parametrize("min_v_mem", [None, -1.0])
def test_every_layer_kind(density, min_v_mem):
    torch.manual_seed(5)
    model = Custom()
    for parameter in model.parameters():
        nn.init.uniform_(parameter, -0.4, 0.9)
    shape = Custom.SHAPE
    net = to_spiking(model, shape, min_v_mem=min_v_mem)
    data = events(3, 9, shape, density, seed=7, counts=(1, 3))
    _, expected = assert_same(net, data, shape)
    assert expected.sum() > 0


def test_membrane_exactly_at_threshold_spikes_in_both():
    """Two inputs of 0.5 reach exactly 1.0: sinabs (v > 0 and trunc(1.0) == 1) and the
    simulator both fire, and leave exactly 0."""
    model = nn.Sequential(NeuromorphicReLU(), nn.Flatten(), nn.Linear(2, 1, bias=False),
                          NeuromorphicReLU())
    with torch.no_grad():
        model[2].weight.fill_(0.5)
    net = to_spiking(model, (2,))
    data = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    result, expected = assert_same(net, data, (2,))
    assert expected[0, :, 0].tolist() == [1.0, 0.0, 0.0, 1.0]


def test_three_terms_follow_the_event_order():
    """With three or more inputs in one step, float32 sums depend on their order: the
    simulator adds them in the order the input neurons spiked (0.1 + 0.2 first, then
    0.7: 1.0000000 in float32, one spike), and the neuron is decided on that sum."""
    weights = torch.tensor([[0.1, 0.2, 0.7]])
    model = nn.Sequential(NeuromorphicReLU(), nn.Linear(3, 1, bias=False), NeuromorphicReLU())
    with torch.no_grad():
        model[1].weight.copy_(weights)
    net = to_spiking(model, (3,))
    data = torch.ones(1, 1, 3)
    result = simulate(compile_network(net, (3,)), data, threads=1)
    in_order = (np.float32(0.1) + np.float32(0.2)) + np.float32(0.7)
    assert result.output[0, 0, 0].item() == float(np.trunc(in_order) if in_order >= 1 else 0)


def test_batches_with_padding_equal_sinabs_and_one_at_a_time():
    model = mnist_dvs(seed=4)
    net = to_spiking(model, MNIST_DVS_INPUT)
    data = events(4, 10, MNIST_DVS_INPUT, 0.02, seed=3)
    data[1, 6:] = 0  # a shorter chunk, zero-padded in time
    plan = compile_network(net, MNIST_DVS_INPUT)
    batched = simulate(plan, data, threads=2)
    for sample in range(4):
        single = simulate(plan, data[sample:sample + 1], threads=1)
        assert torch.equal(single.output[0], batched.output[sample])
        np.testing.assert_allclose(single.layer_synops[0], batched.layer_synops[sample])


@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("bound", [None, -1.0])
def test_scan_engines_equal_sinabs_layer(single, bound):
    """The time-parallel engine's scan (the torch loop here; the Triton kernel on CUDA and
    in tests/test_gpu.py) against sinabs' integrate-and-fire layer."""
    import sinabs.activation
    import sinabs.layers
    torch.manual_seed(0)
    current = torch.randn(3, 40, 17) * 0.9 + 0.2
    layer = sinabs.layers.IAF(
        spike_threshold=torch.tensor(1.0), min_v_mem=bound,
        spike_fn=sinabs.activation.SingleSpike if single else sinabs.activation.MultiSpike,
        reset_fn=sinabs.activation.MembraneSubtract())
    with torch.no_grad():
        expected = layer(current)
    potential = torch.zeros(3, 17)
    first = scan(current[:, :25], potential, single, bound, engine="torch")
    rest = scan(current[:, 25:], potential, single, bound, engine="torch")
    assert torch.equal(torch.cat([first, rest], 1), expected)
    assert torch.equal(potential, layer.v_mem)


@pytest.mark.parametrize("window", [1e12, 2e5])
def test_time_parallel_engine_equals_sinabs(window):
    """The CUDA engine's algorithm, run on the CPU: whole batch at once, and in windows
    of a few steps (bounded memory, the state carried over)."""
    model = mnist_dvs(seed=6, scale=2.0)
    net = to_spiking(model, MNIST_DVS_INPUT, min_v_mem=-1.0)
    data = events(2, 15, MNIST_DVS_INPUT, 0.03, seed=4)
    expected, expected_synops = sinabs_reference(net, data)
    result = cuda_simulate(net, data, memory_bytes=window)
    assert torch.equal(result.output, expected)
    np.testing.assert_allclose(result.layer_synops.sum(0), expected_synops, rtol=1e-5)


def test_long_chunks_in_bounded_memory():
    """500 steps (--dt_us 100) run event by event: memory grows with the spikes, not with
    steps x neurons."""
    model = mnist_dvs(seed=8)
    net = to_spiking(model, MNIST_DVS_INPUT)
    data = events(1, 500, MNIST_DVS_INPUT, 0.0015, seed=9)
    assert_same(net, data, MNIST_DVS_INPUT)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, data):
        return self.relu(self.conv(data) + data)


def test_unsupported_layers_are_named():
    from synoploss.graph import UnsupportedLayer
    with pytest.raises(UnsupportedLayer, match="MaxPool2d"):  # refused at the conversion
        to_spiking(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2),
                                 nn.ReLU()), (1, 4, 4))
    model = nn.Sequential(nn.ReLU(), nn.Linear(4, 3), nn.Linear(3, 2), nn.ReLU())
    with pytest.raises(UnsupportedNetwork, match="two weight layers"):
        compile_network(to_spiking(model, (4,)), (4,))


def test_graph_that_is_not_a_chain_is_refused():
    with pytest.raises(UnsupportedNetwork, match="sinabs"):
        compile_network(Residual(), (1, 4, 4))


def test_triton_scan_kernel_in_the_interpreter():
    """The CUDA engine's Triton kernel, run by Triton's CPU interpreter (a subprocess:
    TRITON_INTERPRET must be set before triton is imported), equals the torch loop."""
    import os
    import subprocess
    import sys
    pytest.importorskip("triton")
    code = (
        "import torch\n"
        "from synoploss.spiking.fast.cuda import scan\n"
        "torch.manual_seed(0)\n"
        "for single in (False, True):\n"
        "    for bound in (None, -1.0):\n"
        "        current = torch.randn(2, 30, 300) * 0.9 + 0.2\n"
        "        a, b = torch.zeros(2, 300), torch.zeros(2, 300)\n"
        "        x = scan(current, a, single, bound, engine='torch')\n"
        "        y = scan(current, b, single, bound, engine='triton')\n"
        "        assert torch.equal(x, y) and torch.equal(a, b), (single, bound)\n"
        "        assert x.sum() > 0\n"
        "print('same')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, TRITON_INTERPRET="1"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "same"


class Rectangular(nn.Module):
    """Non-square strides, kernels and average pooling: height and width kept apart."""

    SHAPE = (1, 17, 12)

    def __init__(self):
        super().__init__()
        features = nn.Sequential(
            NeuromorphicReLU(), nn.Conv2d(1, 4, (3, 2), stride=(2, 1), padding=(1, 0),
                                          bias=False),
            NeuromorphicReLU(), nn.AvgPool2d((2, 1)),
            nn.Conv2d(4, 3, (1, 3), stride=(1, 2), bias=False), NeuromorphicReLU(),
            nn.Flatten())
        width = features(torch.zeros(1, *self.SHAPE)).shape[1]
        self.seq = nn.Sequential(*features, nn.Linear(width, 3, bias=False), NeuromorphicReLU())

    def forward(self, data):
        return self.seq(data)


def test_rectangular_kernels_strides_and_pooling():
    torch.manual_seed(9)
    model = Rectangular()
    for parameter in model.parameters():
        nn.init.uniform_(parameter, -0.3, 1.0)
    net = to_spiking(model, Rectangular.SHAPE)
    data = events(3, 8, Rectangular.SHAPE, 0.3, seed=2, counts=(1, 2))
    result, expected = assert_same(net, data, Rectangular.SHAPE)
    assert expected.sum() > 0 and result.spike_counts.min() > 0  # every layer spikes


@pytest.mark.parametrize("pool", [nn.AvgPool2d(2, ceil_mode=True),
                                  nn.AvgPool2d(2, divisor_override=3)])
def test_average_pooling_options_the_simulator_cannot_follow_are_refused(pool):
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), pool,
                          nn.Flatten(), nn.Linear(2 * 2 * 2, 2, bias=False), nn.ReLU())
    with pytest.raises(UnsupportedNetwork, match="ceil_mode and divisor_override"):
        compile_network(to_spiking(model, (1, 6, 6)), (1, 6, 6))


def test_evaluate_fast_gives_the_result_evaluate_spiking_gives():
    """The same padded batches through both: predictions, labels and per-sample SynOps."""
    net = to_spiking(mnist_dvs(4, scale=4.0), (1, 64, 64))
    batches = [(events(4, 6, (1, 64, 64), 0.02, seed=seed), torch.arange(4) + seed)
               for seed in (1, 2)]
    fast = evaluate(net, batches, keep_output=True, simulator="fast")
    reference = evaluate(net, batches, keep_output=True)
    np.testing.assert_array_equal(fast.predictions, reference.predictions)
    np.testing.assert_array_equal(fast.labels, reference.labels)
    np.testing.assert_array_equal(fast.output_spikes, reference.output_spikes)
    np.testing.assert_allclose(fast.sample_synops, reference.sample_synops, rtol=SYNOPS_RTOL)
    assert fast.layer_names == reference.layer_names and len(set(fast.predictions)) > 1


# ---------------------------------------------------------------- the compiled kernel's cache
SIMULATE_ONCE = """
import torch, torch.nn as nn
torch.manual_seed(0)
from synoploss.spiking import Simulation, to_spiking
model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten(),
                      nn.Linear(2 * 4 * 4, 3, bias=False), nn.ReLU())
net = to_spiking(model, (1, 6, 6))
data = (torch.rand(2, 5, 1, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
with Simulation(net, "fast") as simulation:
    print(float(simulation(data).layer_synops.sum()))
"""


def run_fresh_process(env_changes, cwd=None, read_only=()):
    """SIMULATE_ONCE in a new Python process; its output and stderr. `read_only`: folders
    the process cannot write (as root: read-only bind mounts in a mount namespace of its
    own, since root writes through any mode bits; otherwise their write bits removed)."""
    import os
    import shlex
    import shutil
    import subprocess
    import sys
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(env_changes)
    command = [sys.executable, "-c", SIMULATE_ONCE]
    if read_only and os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: no way to make a folder read-only")
        mounts = " && ".join(f"mount --bind {shlex.quote(str(f))} {shlex.quote(str(f))} && "
                             f"mount -o remount,bind,ro {shlex.quote(str(f))}" for f in read_only)
        command = ["unshare", "-m", "sh", "-c", f"{mounts} && exec {shlex.join(command)}"]
    elif read_only:
        for folder in read_only:
            for path in [Path(folder), *Path(folder).rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=300)
    if "unshare" in command[:1] and "Operation not permitted" in result.stderr:
        pytest.skip("unshare is not permitted here: no way to make a folder read-only")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip(), result.stderr


def cache_files(folder):
    return {(str(path), path.stat().st_mtime_ns) for path in Path(folder).rglob("*")
            if path.suffix in (".nbi", ".nbc")}


def test_a_new_process_reuses_the_compiled_kernel(tmp_path):
    """Two fresh processes with one NUMBA_CACHE_DIR: the first compiles and writes the
    kernel, the second loads it and writes nothing (the kernel is at module level, so
    numba's cache key does not change from process to process)."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first, _ = run_fresh_process(env)
    written = cache_files(tmp_path / "cache")
    assert written, "the first process cached nothing"
    second, _ = run_fresh_process(env)
    assert second == first
    assert cache_files(tmp_path / "cache") == written  # nothing new, nothing rewritten


def test_the_package_cache_does_not_grow_with_processes():
    """Without NUMBA_CACHE_DIR numba caches beside the kernel's file: three processes leave
    as many files there as one (a closure's kernel added a copy every process)."""
    import synoploss.spiking.fast as fast
    folder = Path(fast.__file__).parent / "__pycache__"
    run_fresh_process({})
    after_one = {name for name, _ in cache_files(folder)}
    assert after_one
    run_fresh_process({})
    run_fresh_process({})
    assert {name for name, _ in cache_files(folder)} == after_one


def test_a_read_only_installation_still_simulates(tmp_path):
    """The package installed from a wheel into a folder nobody may write, HOME read-only
    and NUMBA_CACHE_DIR unset: the fast simulator runs (caching in the temporary folder),
    never a numba traceback."""
    import shutil
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources
    source, wheels, target = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
    shutil.copytree(repo / "synoploss", source / "synoploss",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(source)], check=True,
                   capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), *map(str, wheels.glob("*.whl"))], check=True,
                   capture_output=True, timeout=300)
    home, writable = tmp_path / "home", tmp_path / "writable"
    for folder in (home, writable):
        folder.mkdir()
    base = {"PYTHONPATH": str(target), "HOME": str(home), "XDG_CACHE_HOME": ""}
    expected, _ = run_fresh_process({})  # the checkout's own result
    output, errors = run_fresh_process(dict(base, TMPDIR=str(writable)), cwd=tmp_path,
                                       read_only=(target, home))
    assert output == expected and "Traceback" not in errors
    assert list(writable.rglob("*.nbi")), "no cache in the writable temporary folder"


def test_with_no_writable_cache_folder_the_kernel_compiles_in_memory(monkeypatch):
    """Where no cache folder can be written (none of the above), numba is told not to
    cache, with one warning that says how to keep the kernel, instead of failing at the
    first simulation ('no locator available')."""
    import numba

    from synoploss.spiking.fast import cpu_kernel
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(cpu_kernel, "_writable", lambda folder: False)
    with pytest.warns(UserWarning, match="compiles in memory.*NUMBA_CACHE_DIR"):
        assert cpu_kernel._cache_is_possible() is False

    def no_temporary_folder():  # /tmp, /var/tmp and the working folder all read-only
        raise FileNotFoundError("No usable temporary directory found")
    monkeypatch.setattr(cpu_kernel.tempfile, "gettempdir", no_temporary_folder)
    with pytest.warns(UserWarning, match="compiles in memory"):
        assert cpu_kernel._cache_is_possible() is False


@pytest.mark.parametrize("layers,shape", [
    # C = H = 1: the Linear layers' in_features equal the neurons, so a size check passes
    ([nn.ReLU(), nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 10), nn.ReLU()], (1, 1, 8)),
    ([nn.ReLU(), nn.Linear(8, 6), nn.ReLU()], (1, 1, 8)),
    # sum pooling down to one row, then a Linear on the last axis
    ([nn.ReLU(), SumPool2d(2), nn.Linear(4, 3), nn.ReLU()], (1, 2, 8)),
    # more than one row or channel: the sizes do not match either
    ([nn.ReLU(), nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Linear(4, 5, bias=False),
      nn.ReLU()], (1, 6, 6)),
])
def test_a_linear_layer_on_the_last_axis_is_refused(layers, shape):
    """nn.Linear acts on the last axis of a (C, H, W) input; the engine read its input as
    flat neurons and gave other spikes than sinabs (4 of 4 predictions, 10 SynOps where
    sinabs counts 1,940). Refused by name, with the fix."""
    torch.manual_seed(0)
    net = to_spiking(nn.Sequential(*layers), shape)
    with pytest.raises(UnsupportedNetwork, match=r"Linear.*last axis.*nn.Flatten\(\)"):
        compile_network(net, shape)


def test_the_same_network_flattened_is_simulated_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(8, 12), nn.ReLU(),
                          nn.Linear(12, 10), nn.ReLU())
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(3)
    net = to_spiking(model, (1, 1, 8))
    data = torch.poisson(torch.full((4, 20, 1, 1, 8), 0.8))
    fast = run_batch(net, data)
    reference = run_steps(net, data)
    torch.testing.assert_close(fast.output, reference, rtol=0, atol=0)
    assert reference.sum() > 0


# ---------------------------------------------------------------- NeuroBench's metrics
# The oracle: `NeuroBenchCounter`'s hooks in a sinabs run (`neurobench_metrics`), whose
# rules tests/test_spiking_neurobench_metrics.py checks against NeuroBench itself.


class PrefixNet(nn.Module):
    """A first layer that does not spike (run by torch before the first spiking layer:
    the prefix), average pooling, a strided convolution, and after the last spiking layer
    sum pooling and a Linear layer (the suffix, run by torch on the spikes)."""

    SHAPE = (2, 8, 8)

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), NeuromorphicReLU(), nn.AvgPool2d(2),
            nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False), NeuromorphicReLU(),
            SumPool2d(2, stride=1), nn.Flatten(), nn.Linear(4, 5, bias=False))

    def forward(self, data):
        return self.seq(data)


def with_zero_weights(model, low, high, seed):
    """Uniform weights in [low, high), those under 0.1 in magnitude set to zero (NeuroBench
    counts no operation through them)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            nn.init.uniform_(parameter, low, high)
            parameter[parameter.abs() < 0.1] = 0
    return model


def neurobench_case(kind):
    """(network, input shape, batches of dense data) of one network kind."""
    if kind in ("every layer kind, several spikes", "every layer kind, single spikes"):
        net = to_spiking(with_zero_weights(Custom(), -0.4, 0.9, seed=5), Custom.SHAPE,
                         spike_fn="single" if "single" in kind else "multi")
        return net, Custom.SHAPE, [events(3, 9, Custom.SHAPE, 0.05, seed=seed, counts=(1, 3))
                                   for seed in (7, 8)]
    if kind == "static input through a prefix":
        net = to_spiking(with_zero_weights(PrefixNet(), -0.5, 1.5, seed=1), PrefixNet.SHAPE,
                         min_v_mem=-1.0, bias_rescaling=8)
        images = torch.rand(5, *PrefixNet.SHAPE, generator=torch.Generator().manual_seed(3))
        batches = StaticInputBatches([(images[:3], None), (images[3:], None)], steps=8,
                                     scale=4.0)
        return net, PrefixNet.SHAPE, [data for data, _ in batches]
    if kind == "spikes and counts in one batch":
        # batch 1: sample 0 gets single events, sample 1 counts up to 3; batch 2: spikes
        net = to_spiking(with_zero_weights(PrefixNet(), -0.5, 1.5, seed=1), PrefixNet.SHAPE,
                         bias_rescaling=8)
        spikes = events(2, 8, PrefixNet.SHAPE, 0.3, seed=4, counts=(1, 1))
        counts = events(1, 8, PrefixNet.SHAPE, 0.3, seed=5, counts=(1, 3))
        return net, PrefixNet.SHAPE, [torch.cat([spikes[:1], counts]), spikes[1:]]
    if kind == "mnist-dvs, first layer x8":
        net = to_spiking(mnist_dvs(seed=3, scale=8.0), MNIST_DVS_INPUT)
        return net, MNIST_DVS_INPUT, [events(2, 6, MNIST_DVS_INPUT, 0.03, seed=seed)
                                      for seed in (1, 2)]
    model = with_zero_weights(nn.Sequential(  # "linear layers"
        NeuromorphicReLU(), nn.Linear(12, 8, bias=False), NeuromorphicReLU(),
        nn.Linear(8, 6), NeuromorphicReLU(), nn.Linear(6, 3, bias=False), NeuromorphicReLU()),
        -0.6, 1.6, seed=2)
    net = to_spiking(model, (12,))
    return net, (12,), [torch.poisson(torch.full((3, 10, 12), 0.7)) for _ in range(2)]


NEUROBENCH_KINDS = ["every layer kind, several spikes", "every layer kind, single spikes",
                    "static input through a prefix", "spikes and counts in one batch",
                    "mnist-dvs, first layer x8", "linear layers"]


def assert_same_neurobench(metrics, expected):
    """Effective operations and Dense equal to float64 summation error; the AC/MAC
    decisions, the per-sample flags and ActivationSparsity exactly."""
    for name in ("effective_acs", "effective_macs", "dense"):
        np.testing.assert_allclose(getattr(metrics, name), getattr(expected, name),
                                   rtol=1e-12, atol=0, err_msg=name)
    np.testing.assert_array_equal(metrics.binary_input, expected.binary_input)
    np.testing.assert_array_equal(metrics.activation_sparsity, expected.activation_sparsity)
    assert (metrics.layer_names, metrics.footprint_bytes, metrics.connection_sparsity) == \
        (expected.layer_names, expected.footprint_bytes, expected.connection_sparsity)


def tally_of(net, results):
    tally = NeuroBenchTally(net)
    for result in results:
        tally.add(result.neurobench)
    return tally.result()


@pytest.mark.filterwarnings("ignore:to_spiking. the network has biases")
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", NEUROBENCH_KINDS)
def test_neurobench_metrics_of_both_engines_equal_sinabs_hooks(kind, sparse):
    """Both engines of the fast simulator, on the same batches, give the NeuroBench metrics
    that the hooks count in a sinabs run (the CUDA engine's algorithm on the CPU, in
    windows of a few steps); their spikes are sinabs'."""
    if sparse and kind in ("static input through a prefix", "linear layers"):
        pytest.skip("a static input (expanded over time) and 1-D inputs come dense")
    net, shape, batches = neurobench_case(kind)
    expected = neurobench_metrics(net, [(data, None) for data in batches])
    inputs = [EventBatch.from_dense(data, shape) if sparse else data for data in batches]
    plan = compile_network(net, shape)
    cpu = [simulate(plan, data, threads=2, neurobench=True) for data in inputs]
    time_parallel = [cuda_simulate(net, data, memory_bytes=3e4, neurobench=True)
                     for data in inputs]
    for data, result, other in zip(batches, cpu, time_parallel, strict=True):
        reference = sinabs_reference(net, data)[0]
        assert torch.equal(result.output, reference) and torch.equal(other.output, reference)
    assert_same_neurobench(tally_of(net, cpu), expected)
    assert_same_neurobench(tally_of(net, time_parallel), expected)
    effective = expected.effective_acs + expected.effective_macs
    assert (effective.sum(0) > 0).all(), "a layer the test does not exercise"
    assert (expected.activation_sparsity > 0).all() and (expected.activation_sparsity < 1).all()


@pytest.mark.filterwarnings("ignore:to_spiking. the network has biases")
def test_neurobench_cases_show_what_they_are_for():
    """The cases exercise NeuroBench's distinctions: ACs where a layer gets single spikes,
    MACs where it gets counts, average-pooled (1/9) or sum-pooled inputs; one sample's
    counts making its whole batch MACs."""

    def metrics(kind):
        net, _, batches = neurobench_case(kind)
        return neurobench_metrics(net, [(data, None) for data in batches])
    # Custom: spikes, spikes, 1/9 after the average pooling, sums after the sum pooling,
    # spikes; several spikes a step make every layer's input counts
    single = metrics("every layer kind, single spikes")
    assert single.binary_input.all(0).tolist() == [True, True, False, False, True]
    assert not metrics("every layer kind, several spikes").binary_input.any()
    mixed = metrics("spikes and counts in one batch")  # batches: [spikes, counts], [spikes]
    assert mixed.binary_input[:, 0].tolist() == [True, False, True]
    assert mixed.effective_acs[:, 0].tolist()[:2] == [0, 0] and mixed.effective_acs[2, 0] > 0
    assert (mixed.effective_macs[:2, 0] > 0).all()
    static = metrics("static input through a prefix")  # the image / steps: MACs
    assert not static.binary_input[:, 0].any() and static.effective_macs[:, 0].all()


@pytest.mark.filterwarnings("ignore:to_spiking. the network has biases")
@pytest.mark.parametrize("kind", ["every layer kind, several spikes", "linear layers"])
def test_evaluate_gives_neurobench_metrics_from_either_simulator(kind, monkeypatch):
    """`evaluate(..., neurobench=True)`: the metrics in the same pass as the spiking test,
    the same from both simulators and equal to the hooks' own run; sinabs reads sparse
    batches in windows of a few steps (one run for NeuroBench, as for the SynOps). Without
    it, none, and the counting changes no other number."""
    net, shape, batches = neurobench_case(kind)
    expected = neurobench_metrics(net, [(data, None) for data in batches])
    if len(shape) == 3:
        batches = [EventBatch.from_dense(data, shape) for data in batches]
        monkeypatch.setattr(Simulation, "window_bytes", 4 * 3 * int(np.prod(shape)) * 4)
    labelled = [(data, torch.zeros(data.batch if len(shape) == 3 else len(data)))
                for data in batches]
    results = {simulator: evaluate(net, labelled, simulator=simulator, neurobench=True,
                                   keep_output=True, threads=2)
               for simulator in ("sinabs", "fast")}
    for result in results.values():
        assert_same_neurobench(result.neurobench, expected)
    plain = evaluate(net, labelled, simulator="fast", keep_output=True)
    assert plain.neurobench is None
    np.testing.assert_array_equal(plain.output_spikes, results["fast"].output_spikes)
    np.testing.assert_array_equal(plain.sample_synops, results["fast"].sample_synops)
    np.testing.assert_array_equal(results["sinabs"].output_spikes, plain.output_spikes)


def test_an_average_pooling_before_a_spiking_layer_does_not_scale_the_next_layer():
    """Conv -> AvgPool(2) -> IAF -> Linear: the Linear layer receives spike counts, one
    SynOp per spike and connection; sinabs' ModelSynopsHook carried the pooling's area
    past the spiking layer (4x), and the sinabs path copied it, so the two simulators
    disagreed. Now both count out_features per spike."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.AvgPool2d(2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(36, 10, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.mul_(3)
    net = to_spiking(model, (1, 8, 8))
    data = (torch.rand(2, 10, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3) * 3.0
    sinabs_result = evaluate(net, [(data, torch.zeros(2))], simulator="sinabs")
    fast_result = evaluate(net, [(data, torch.zeros(2))], simulator="fast")
    hidden = {}
    handle = spiking_layers(net)[0].register_forward_hook(
        lambda module, inputs, output: hidden.__setitem__("spikes", output.detach()))
    run_steps(net, data)
    handle.remove()
    per_sample = hidden["spikes"].reshape(2, 10, -1).sum((1, 2)).double().numpy() * 10
    np.testing.assert_allclose(sinabs_result.sample_synops[:, -1], per_sample, rtol=1e-6)
    np.testing.assert_allclose(fast_result.sample_synops, sinabs_result.sample_synops,
                               rtol=SYNOPS_RTOL)
    assert per_sample.sum() > 0


@pytest.mark.parametrize("where", ["weight", "bias", "input"])
def test_nan_weights_or_input_are_refused_not_simulated(where):
    """sinabs turns a NaN into NaN results, which are refused as a result; the kernel gave
    plausible SynOps and predictions instead."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3, bias=False), nn.ReLU())
    data = torch.ones(2, 4, 1, 6, 6)
    with torch.no_grad():
        if where == "weight":
            model[1].weight.view(-1)[0] = float("nan")
        elif where == "bias":
            model[1].bias[0] = float("nan")
        else:
            data[0, 1, 0, 2, 2] = float("nan")
    net = to_spiking(model, (1, 6, 6), bias_rescaling=4)
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate(net, [(data, torch.zeros(2))], simulator="fast")

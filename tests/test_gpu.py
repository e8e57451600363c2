"""The CUDA paths against the CPU: the same small job on both, compared on what matters.

Marked `gpu`: skipped without a CUDA GPU, with the reason. `SYNOPLOSS_GPU_DRY_RUN=1`
runs them with the CPU on both sides, so that CI proves they execute (`make test` does;
the comparisons are then trivially within tolerance, the code paths are not).
scripts/gpu_check.sh runs them on a GPU with `-s`: every comparison prints one line.

Tolerances, and why. TF32 is switched off for these comparisons (it is on for cuDNN
convolutions by default and would change the weights' sums by ~1e-3). What remains is
summation order: float32 sums differ in their last bits between the CPU and CUDA.
- Analog accuracy: equal within 1 sample in 256; estimated SynOps within 1e-4 relative
  (a quantized activation can floor one step differently at an exact integer).
- Spiking: a membrane that lands on the threshold by a last-bit difference fires on one
  side only; that is rare at threshold 1 (docs/simulator.md, "ties"): predictions equal
  on at least 95% of the test chunks, SynOps per sample within 1e-3 relative on the mean.
- The GPU-resident CIFAR-10 batches: exactly the torchvision path's images without
  augmentation; with it, every image exactly one of the 162 crops and flips.
- bf16 against fp32: accuracy within 5 points, estimated SynOps within 5% (bf16 keeps 8
  bits of mantissa: the activations before the floor move by ~0.4%).
"""
import contextlib
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import load_script
from synoploss.data.cifar10 import (
    ArrayImageDataset,
    DeviceBatches,
    cifar_transforms,
    normalise,
    standin_images,
)
from synoploss.data.mnist_dvs import SpikeTrainDataset
from synoploss.experiments.evaluation import evaluate_analog
from synoploss.experiments.workdir import Workdir
from synoploss.models import MNIST_DVS_INPUT, CIFAR10AnalogueClassifier, MNISTDVSNet
from synoploss.spiking import evaluate, to_spiking

DRY_RUN = os.environ.get("SYNOPLOSS_GPU_DRY_RUN") == "1"
DEVICE = "cpu" if DRY_RUN else "cuda"
pytestmark = pytest.mark.gpu


@contextlib.contextmanager
def no_tf32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def report(what, cpu, device, difference, tolerance, sides=("cpu", DEVICE)):
    """One line per comparison (gpu_check.sh shows them)."""
    print(f"\ncompare {what}: {sides[0]} {cpu:.6g}, {sides[1]} {device:.6g}, difference "
          f"{difference:.3g} (tolerance {tolerance:g})")
    assert difference <= tolerance, what


def cifar_model(seed=0, width=0.25):
    torch.manual_seed(seed)
    return CIFAR10AnalogueClassifier(width=width, quantize=True)


def test_analog_accuracy_and_synops_match_the_cpu():
    images, labels = standin_images(256, seed=0)
    loader = DataLoader(ArrayImageDataset(images, labels, cifar_transforms(False)), 64)
    with no_tf32():
        cpu = evaluate_analog(cifar_model(), loader, "cpu")
        device = evaluate_analog(cifar_model(), DeviceBatches(images, labels, 64, DEVICE,
                                                              train=False), DEVICE)
    report("CIFAR-10 analog accuracy", cpu.accuracy, device.accuracy,
           abs(cpu.accuracy - device.accuracy), 1 / 256)
    report("CIFAR-10 estimated SynOps", cpu.synops, device.synops,
           abs(cpu.synops - device.synops) / cpu.synops, 1e-4)
    assert cpu.synops > 0


def test_device_batches_are_the_torchvision_paths_images():
    images, labels = standin_images(96, seed=1)
    reference = torch.cat([batch for batch, _ in DataLoader(
        ArrayImageDataset(images, labels, cifar_transforms(False)), 32)])
    resident = torch.cat([batch.cpu() for batch, _ in
                          DeviceBatches(images, labels, 32, DEVICE, train=False)])
    report("CIFAR-10 batches without augmentation (max abs)", 0, 0,
           float((reference - resident).abs().max()), 1e-6)
    # with augmentation: each image is exactly one crop (81 offsets) and flip of its own
    padded = normalise(torch.nn.functional.pad(torch.from_numpy(images).permute(0, 3, 1, 2),
                                               (4, 4, 4, 4)))  # zero padding, as uint8
    augmented = next(iter(DeviceBatches(images, labels, 96, DEVICE, train=True, seed=3)))
    # which source image each is: the epoch's order, drawn first from the seeded generator
    generator = torch.Generator(device=DEVICE).manual_seed(3 * 1_000_003)
    order = torch.randperm(96, device=DEVICE, generator=generator).cpu()
    assert augmented[1].cpu().tolist() == torch.as_tensor(labels)[order].tolist()
    for index in range(0, 96, 12):
        image, source = augmented[0][index].cpu(), int(order[index])
        found = any(torch.allclose(view, image, atol=1e-6)
                    for top in range(9) for left in range(9)
                    for crop in [padded[source, :, top:top + 32, left:left + 32]]
                    for view in (crop, crop.flip(-1)))
        assert found, f"augmented image {index} is no crop and flip of its source"


def test_spiking_predictions_and_synops_match_the_cpu(tiny_mnist_dvs):
    torch.manual_seed(0)
    model = MNISTDVSNet(quantize=False)
    chunks = SpikeTrainDataset(tiny_mnist_dvs / "test", 1000)
    with no_tf32():
        cpu = evaluate(to_spiking(model, MNIST_DVS_INPUT), chunks.loader(8), "sinabs")
        results = {"sinabs": evaluate(to_spiking(model, MNIST_DVS_INPUT).to(DEVICE),
                                      chunks.loader(8), "sinabs", device=DEVICE)}
        if DEVICE == "cuda":  # the time-parallel engine (the CPU runs the event engine)
            results["fast"] = evaluate(to_spiking(model, MNIST_DVS_INPUT), chunks.loader(8),
                                       "fast", device=DEVICE)
    for simulator, result in results.items():
        agree = float(np.mean(cpu.predictions == result.predictions))
        report(f"MNIST-DVS spiking predictions ({simulator}, share equal)", 1, agree,
               1 - agree, 0.05)
        report(f"MNIST-DVS spiking SynOps ({simulator})", cpu.synops, result.synops,
               abs(cpu.synops - result.synops) / cpu.synops, 1e-3)


def test_bf16_against_fp32():
    images, labels = standin_images(256, seed=2)
    batches = DeviceBatches(images, labels, 64, DEVICE, train=False)
    fp32 = evaluate_analog(cifar_model(), batches, DEVICE, precision="fp32")
    bf16 = evaluate_analog(cifar_model(), batches, DEVICE, precision="bf16")
    report(f"CIFAR-10 accuracy on {DEVICE}", fp32.accuracy, bf16.accuracy,
           abs(fp32.accuracy - bf16.accuracy), 0.05, ("fp32", "bf16"))
    report(f"CIFAR-10 SynOps on {DEVICE}", fp32.synops, bf16.synops,
           abs(fp32.synops - bf16.synops) / fp32.synops, 0.05, ("fp32", "bf16"))


def test_cifar_scripts_test_one_checkpoint_alike_on_both_devices(tmp_path):
    """CIFAR10_analogue/train.py on the device, then test.py on the CPU and on the device
    for the same checkpoints: the same rows within the tolerances above."""
    train = load_script("CIFAR10_analogue/train.py")
    test = load_script("CIFAR10_analogue/test.py")
    data = ["--standin", "--n_test", "32", "--data_root", str(tmp_path / "none")]
    train.main(data + ["--n_train", "128", "--device", DEVICE, "--width", "0.125",
                       "--batch_size", "64",
                       "--n_epochs", "1", "--round_epochs", "1", "--n_rounds", "1",
                       "--no_progress", "--workdir", str(tmp_path / "run")])
    rows = {}
    for side, device in (("cpu", "cpu"), ("device", DEVICE)):
        folder = shutil.copytree(tmp_path / "run", tmp_path / f"test_{side}")
        with no_tf32():
            test.main(data + ["--device", device, "--workdir", str(folder),
                              "--baseline_scales", "5", "--n_timesteps", "4",
                              "--simulator", "sinabs"])
        rows[side] = pd.read_csv(Workdir(folder).cifar_inference)
    cpu, device = rows["cpu"], rows["device"]
    assert cpu["round"].tolist() == device["round"].tolist() == [-1, 0, 0]
    report("CIFAR-10 test.py SNN accuracy (largest difference)", cpu["snn_accuracy"].mean(),
           device["snn_accuracy"].mean(),
           float((cpu["snn_accuracy"] - device["snn_accuracy"]).abs().max()), 0.05)
    report("CIFAR-10 test.py SNN SynOps (largest relative difference)",
           cpu["snn_synops"].mean(), device["snn_synops"].mean(),
           float(((cpu["snn_synops"] - device["snn_synops"]).abs() / cpu["snn_synops"]).max()),
           1e-3)


def test_mnist_dvs_scripts_run_on_the_device(tiny_mnist_dvs, tmp_path):
    """Every MNIST-DVS script's device path, each result checked for content."""
    train = load_script("mnist_dvs/train.py")
    test_spiking = load_script("mnist_dvs/test_spiking.py")
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), "--device", DEVICE]
    quick = ["--n_epochs", "1", "--batch_size", "16", "--max_train_samples", "48",
             "--no_progress"]
    train.main(common + quick + ["--nopenalty"])
    train.main(common + quick + ["--quantize_training", "--n_models", "1"])
    for mode in ("nopenalty", "quantized"):
        test_spiking.main(common + ["--mode", mode, "--max_samples", "8"])
    files = Workdir(tmp_path)
    for name in ("nopenalty", "l1-fanout-qtrain"):
        row = pd.read_csv(files.spiking_csv(name)).iloc[0]
        assert 0 <= row["snn_accuracy"] <= 1 and row["snn_synops"] > 0
        assert row["snn_accuracy_low"] <= row["snn_accuracy"] <= row["snn_accuracy_high"]

"""Every script's CUDA path on tiny data (marked `gpu`: skipped without a CUDA GPU).

On a machine with CPUs only these are skipped with the reason; scripts/gpu_check.sh runs
the same pipelines at a slightly larger size and prints one line per pipeline.
"""
import pandas as pd
import pytest
import torch

from conftest import load_script
from synoploss.data.cifar10 import DeviceBatches, standin_images
from synoploss.evaluation import evaluate_analog
from synoploss.models import CIFAR10AnalogueClassifier, MNISTDVSNet
from synoploss.results import Workdir

pytestmark = pytest.mark.gpu

CUDA = ["--device", "cuda"]


def test_evaluate_analog_moves_a_cpu_model_to_the_device():
    images, labels = standin_images(16, seed=0)
    model = CIFAR10AnalogueClassifier(width=0.1)  # built on the CPU
    stats = evaluate_analog(model, DeviceBatches(images, labels, 8, "cuda", train=False), "cuda")
    assert next(model.parameters()).is_cuda and 0 <= stats.accuracy <= 1


def test_cifar_train_and_test_on_cuda(tmp_path):
    train = load_script("CIFAR10_analogue/train.py")
    test = load_script("CIFAR10_analogue/test.py")
    data = ["--standin", "--n_train", "256", "--n_test", "64", "--data_root",
            str(tmp_path / "none")]
    for precision in ("fp32", "bf16"):
        workdir = tmp_path / precision
        train.main(data + CUDA + ["--width", "0.25", "--batch_size", "64", "--n_epochs", "1",
                                  "--round_epochs", "1", "--n_rounds", "1", "--no_progress",
                                  "--precision", precision, "--workdir", str(workdir)])
        test.main(data + CUDA + ["--workdir", str(workdir), "--baseline_scales", "5",
                                 "--n_timesteps", "4"])
        inference = pd.read_csv(Workdir(workdir).cifar_inference)
        assert inference["round"].tolist() == [-1, 0, 0]


def test_mnist_dvs_scripts_on_cuda(tiny_mnist_dvs, tmp_path):
    train = load_script("mnist_dvs/train.py")
    test_spiking = load_script("mnist_dvs/test_spiking.py")
    smart = load_script("mnist_dvs/smart_weight_rescaling.py")
    quant_eval = load_script("mnist_dvs/quantization_evaluation.py")
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), *CUDA]
    quick = ["--n_epochs", "1", "--batch_size", "16", "--no_progress"]
    train.main(common + quick + ["--nopenalty"])
    train.main(common + quick + ["--quantize_training", "--n_models", "1"])
    for mode in ("nopenalty", "quantized", "weightscaling", "ann"):
        test_spiking.main(common + ["--mode", mode, "--scales", "0.5", "--workers", "2"])
    smart.main(common + ["--levels", "8", "--calibration_samples", "20"])
    quant_eval.main(common + ["--n_epochs", "1", "--no_progress"])
    assert (Workdir(tmp_path).spiking_csv("l1-fanout-qtrain")).is_file()
    assert (Workdir(tmp_path).spiking_csv("smartscaling")).is_file()


def test_mnist_quant_only_scripts_on_cuda(tmp_path):
    evaluation = load_script("mnist_quant_only/quantization_evaluation.py")
    spiking = load_script("mnist_quant_only/test_spiking.py")
    common = ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "data"), *CUDA]
    evaluation.main(common + ["--scales", "1.0", "--n_epochs", "1", "--max_train_samples",
                              "200", "--no_progress"])
    spiking.main(common + ["--n_timesteps", "10", "--max_samples", "50"])
    snn = pd.read_csv(Workdir(tmp_path).quant_spiking_csv(False))
    assert snn["scale"].tolist() == [1.0]


def test_spiking_conversion_runs_on_the_device():
    from synoploss.spiking import to_spiking
    model = MNISTDVSNet(quantize=True).cuda()
    net = to_spiking(model, (1, 64, 64))
    output = net(torch.rand(4, 1, 64, 64, device="cuda"))
    assert output.is_cuda

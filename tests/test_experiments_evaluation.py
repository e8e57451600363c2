"""synoploss.experiments.evaluation: the spiking-test row, its checks, and the layer matching."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from synoploss.experiments.evaluation import (
    NonFiniteResult,
    SpikingTestSettings,
    check_finite,
    compare_analog_and_spiking,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.experiments.reruns import ResultsFile
from synoploss.experiments.workdir import Workdir
from synoploss.graph import trace
from synoploss.io import append_row
from synoploss.models import CIFAR10AnalogueClassifier, MNISTDVSNet, scale_first_layer
from synoploss.quantize import NeuromorphicReLU


def batches(seed=0, batch=6, steps=8):
    generator = torch.Generator().manual_seed(seed)
    data = (torch.rand(batch, steps, 1, 64, 64, generator=generator) < 0.03).float()
    labels = torch.arange(batch) % 10
    return [(data.sum(1), labels)], [(data, labels)]


def test_layers_are_matched_by_name_through_the_graph():
    assert trace(MNISTDVSNet()).feeds == {
        "input_relu": ["seq.0"], "seq.1": ["seq.3"], "seq.4": ["seq.6"], "seq.7": ["seq.11"],
        "seq.12": []}
    # CIFAR-10 with the paper's fan-outs counts the output ReLU, which feeds no weight layer
    feeds = trace(CIFAR10AnalogueClassifier(width=0.1, fanout="paper")).feeds
    assert feeds["seq.26"] == [] and feeds["seq.2"] == ["seq.4"]


@pytest.mark.parametrize("simulator", ["sinabs", "fast"])
def test_the_row_has_intervals_and_the_per_layer_counts(simulator, tmp_path):
    torch.manual_seed(0)
    model = scale_first_layer(MNISTDVSNet(quantize=True, fanout="exact"), 8.0)
    frames, spikes = batches()
    row = spiking_test_row(model, (1, 64, 64), frames, spikes,
                           SpikingTestSettings(simulator=simulator), "the model",
                           samples_path=tmp_path / "s.npz")
    assert row["simulator"] == simulator and row["n_samples"] == 6
    assert row["snn_accuracy_low"] <= row["snn_accuracy"] <= row["snn_accuracy_high"]
    assert row["snn_synops_low"] <= row["snn_synops"] <= row["snn_synops_high"]
    layers = [row[f"snn_synops_{name}"] for name in ("input_relu", "seq_1", "seq_4", "seq_7")]
    assert sum(layers) == pytest.approx(row["snn_synops"])
    saved = np.load(tmp_path / "s.npz")
    assert saved["correct"].shape == (6,) and saved["synops"].mean() == pytest.approx(
        row["snn_synops"])
    assert row["energy_uj"] == pytest.approx(row["snn_synops"] * 23.6e-6)


def test_a_nan_checkpoint_is_never_a_row():
    model = MNISTDVSNet(quantize=True)
    with torch.no_grad():
        model.seq[0].weight[0, 0, 0, 0] = math.nan
    frames, spikes = batches()
    with pytest.raises(NonFiniteResult, match="nan model: .*not finite"):
        spiking_test_row(model, (1, 64, 64), frames, spikes, SpikingTestSettings(), "nan model")


def test_check_finite_ignores_unknown_interval_bounds():
    assert check_finite(dict(snn_synops=1.0, snn_synops_low=math.nan), "x")
    with pytest.raises(NonFiniteResult, match="snn_synops"):
        check_finite(dict(snn_synops=math.inf), "x")


def test_export_nir_must_be_a_writable_folder_before_any_work(tmp_path):
    import argparse
    (tmp_path / "a_file").write_text("x")
    args = argparse.Namespace(export_nir=str(tmp_path / "a_file"), simulator="fast",
                              energy_model=SpikingTestSettings().energy_model)
    with pytest.raises(ValueError, match="--export_nir .*a_file: is a file"):
        spiking_test_from_args(args, "cpu")


def test_a_row_is_kept_only_for_the_same_checkpoint_and_its_nir_file(tmp_path):
    # a row as the spiking tests write it: with its output options' columns
    append_row(tmp_path / "r.csv", dict(model_path="m", model_sha256="abc",
                                        **SpikingTestSettings().output_settings()),
               key=["model_path"])

    def kept(sha, test, nir_name=None, path="r.csv"):
        results = ResultsFile(Workdir(tmp_path), tmp_path / path, ["model_path"])
        return results.kept(dict(model_path="m", model_sha256=sha), **test.rerun_checks(nir_name))
    assert kept("abc", SpikingTestSettings())
    assert not kept("def", SpikingTestSettings())
    assert not kept("abc", SpikingTestSettings(), path="none.csv")
    wants_nir = SpikingTestSettings(nir_dir=tmp_path)
    assert not kept("abc", wants_nir, "m.nir")
    (tmp_path / "m.nir").write_text("")
    assert kept("abc", wants_nir, "m.nir")


def test_a_layer_that_cannot_be_counted_is_refused_by_name():
    model = nn.Sequential(NeuromorphicReLU(), nn.Conv2d(1, 2, 3), nn.MaxPool2d(2),
                          NeuromorphicReLU())
    with pytest.raises(ValueError, match=r"layer 2 \(MaxPool2d\): max pooling"):
        compare_analog_and_spiking(model, (1, 8, 8), [], [])

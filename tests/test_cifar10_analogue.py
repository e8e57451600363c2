"""The CIFAR10_analogue scripts on the procedural stand-in."""
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from conftest import load_script
from synoploss.data.cifar10 import STANDIN_DESCRIPTION
from synoploss.models import CIFAR10AnalogueClassifier
from synoploss.io import load_state
from synoploss.results import Workdir

train = load_script("CIFAR10_analogue/train.py")
test = load_script("CIFAR10_analogue/test.py")

TINY = ["--standin", "--n_train", "64", "--n_test", "32", "--width", "0.1", "--batch_size",
        "16", "--no_progress", "--device", "cpu"]


def original_cifar_state():
    """The original code's layout: Dropout2d, Conv2d, ReLU triples, sum pool, flatten."""
    layers, channels = [], 3
    for out, kernel, stride in [(96, 3, 1), (96, 3, 1), (192, 3, 2), (192, 3, 1), (192, 3, 1),
                                (192, 3, 2), (192, 3, 1), (192, 1, 1), (10, 1, 1)]:
        layers += [nn.Dropout2d(0.1), nn.Conv2d(channels, out, kernel, stride, kernel // 2,
                                                bias=False), nn.ReLU()]
        channels = out
    return {f"seq.{k}": v for k, v in nn.Sequential(*layers).state_dict().items()}


def test_original_state_dict_loads_into_the_full_width_model(tmp_path):
    torch.save(original_cifar_state(), tmp_path / "original.pth")
    model = load_state(CIFAR10AnalogueClassifier(), tmp_path / "original.pth")
    assert model.seq[25].weight.shape == (10, 192, 1, 1)
    with pytest.raises(ValueError, match="does not fit"):
        load_state(CIFAR10AnalogueClassifier(width=0.5), tmp_path / "original.pth")


def test_one_round_through_train_and_test(tmp_path):
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_epochs", "1", "--round_epochs", "1", "--n_rounds", "1"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["round"].tolist() == [-1, 0]
    assert log["data"].eq(STANDIN_DESCRIPTION).all()
    first_target = log.loc[log["round"] == 0, "target"].item()
    assert first_target == log["macs"].iloc[0]  # MACs without the input layer
    test.main(["--workdir", str(tmp_path), "--standin", "--n_test", "32",
               "--baseline_scales", "5", "50", "--n_timesteps", "4", "--data_root", str(tmp_path / "none"),
               "--export_nir", str(tmp_path / "nir")])
    inference = pd.read_csv(Workdir(tmp_path).cifar_inference)
    assert sorted(p.name for p in (tmp_path / "nir").iterdir()) == [
        "d0.2_0.1_-1_x5.nir", "d0.2_0.1_-1_x50.nir", "d0.2_0.1_0_x1.5.nir", "d0.2_0.1_0_x2.nir"]
    assert inference[["round", "weight_scale"]].values.tolist() == [[-1, 5], [-1, 50], [0, 1.5], [0, 2]]
    plain = inference[inference["round"] == -1]
    assert (plain["ann_synops"] == plain["macs"]).all()
    # energy: SynOps x 23.6 pJ + the first conv's MACs (3x3x3 -> 10 channels at width 0.1,
    # 32x32 outputs) at each of the 4 steps x 4.6 pJ
    first_layer_macs = 3 * 3 * 3 * 10 * 32 * 32
    assert (inference["input_macs"] == first_layer_macs * 4).all()
    np.testing.assert_allclose(inference["energy_uj"], (inference["snn_synops"] * 23.6
                                                        + first_layer_macs * 4 * 4.6) / 1e6)
    assert plain["snn_synops"].is_monotonic_increasing
    assert inference["data"].eq(STANDIN_DESCRIPTION).all()


def test_resume_continues_after_the_last_round(tmp_path):
    common = TINY + ["--workdir", str(tmp_path), "--n_epochs", "1", "--round_epochs", "1",
                     "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_rounds", "1"])
    plain = tmp_path / "models" / "d0.2_0.1_-1.pth"
    stamp = plain.stat().st_mtime
    with pytest.raises(SystemExit, match="pass --resume"):
        train.main(common + ["--n_rounds", "2"])
    train.main(common + ["--n_rounds", "2", "--resume"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["round"].tolist() == [-1, 0, 1]
    assert plain.stat().st_mtime == stamp
    # round 1's target is round 0's estimated SynOps (decay 1.0 before round 16)
    round0 = log[log["round"] == 0].iloc[-1]
    assert log.loc[log["round"] == 1, "target"].item() == pytest.approx(round0["test_synops"], rel=1e-6)


def test_gpu_data_path_and_bf16_run_on_the_cpu_too(tmp_path):
    """The device-resident data path, bf16 autocast and channels_last (the GPU defaults)
    through train.py and test.py on the CPU, so that CI exercises them."""
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_epochs", "1", "--round_epochs", "1", "--n_rounds", "1",
                         "--data_path", "device", "--precision", "bf16", "--channels_last", "on"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["round"].tolist() == [-1, 0]
    assert np.isfinite(log["test_synops"]).all() and (log["test_synops"] > 0).all()
    test.main(["--workdir", str(tmp_path), "--standin", "--n_test", "32", "--n_timesteps", "4",
               "--baseline_scales", "5", "--data_root", str(tmp_path / "none")])
    assert len(pd.read_csv(Workdir(tmp_path).cifar_inference)) == 3


@pytest.mark.parametrize("flag,value,message", [
    ("--device", "foo", "not a device name"), ("--device", "mps", "only cpu and cuda"),
])
def test_bad_device_is_named(tmp_path, flag, value, message):
    with pytest.raises(SystemExit, match=message):
        train.main(TINY[:-2] + ["--workdir", str(tmp_path), flag, value])


def test_resume_retrains_a_logged_round_whose_checkpoint_is_missing(tmp_path, capsys):
    """Killed between the log row and the checkpoint save: --resume trains that round again
    instead of failing on every rerun."""
    common = TINY + ["--workdir", str(tmp_path), "--n_epochs", "1", "--round_epochs", "1",
                     "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_rounds", "1"])
    (tmp_path / "models" / "d0.2_0.1_0.pth").unlink()
    train.main(common + ["--n_rounds", "1", "--resume"])
    assert "round 0 is in" in capsys.readouterr().out
    assert (tmp_path / "models" / "d0.2_0.1_0.pth").is_file()
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["round"].tolist() == [-1, 0]  # replaced, not duplicated


@pytest.mark.parametrize("argv,message", [
    (["--width", "0"], "--width: must be positive"),
    (["--n_timesteps", "0"], "--n_timesteps: must be a positive integer"),
    (["--dropout", "0.2", "1.5"], r"--dropout: must be in \[0, 1\)"),
])
def test_bad_cifar_flags_are_named(tmp_path, capsys, argv, message):
    script = test if argv[0] == "--n_timesteps" else train
    with pytest.raises(SystemExit):
        script.main(argv + ["--workdir", str(tmp_path)])
    assert re.search(message, capsys.readouterr().err)


def test_the_scripts_say_where_cifar_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="train.py: CIFAR-10 not found"):
        train.main(["--data_root", str(tmp_path), "--workdir", str(tmp_path)])


def test_renamed_flags_still_work(tmp_path, capsys):
    """--synthetic and --n_dt, the names of the last release, are hidden aliases now."""
    common = ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(TINY[1:] + common + ["--synthetic", "--n_epochs", "1", "--round_epochs", "1",
                                    "--n_rounds", "1"])
    test.main(common + ["--synthetic", "--n_test", "16", "--n_dt", "2", "--rounds", "0",
                        "--wscales", "1.0"])
    err = capsys.readouterr().err
    assert "--synthetic is now --standin" in err and "--n_dt is now --n_timesteps" in err
    assert pd.read_csv(Workdir(tmp_path).cifar_inference)["n_timesteps"].tolist() == [2]


def test_test_py_writes_each_result_as_it_goes(tmp_path, monkeypatch):
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_epochs", "1", "--n_rounds", "0"])
    calls = []
    original = test.compare_analog_and_spiking

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(test, "compare_analog_and_spiking", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        test.main(["--workdir", str(tmp_path), "--standin", "--n_test", "16", "--n_timesteps", "2",
                   "--baseline_scales", "5", "50", "--data_root", str(tmp_path / "none")])
    assert len(pd.read_csv(Workdir(tmp_path).cifar_inference)) == 1

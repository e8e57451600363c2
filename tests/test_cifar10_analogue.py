"""The CIFAR10_analogue scripts on the procedural stand-in."""
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from conftest import load_script
from synoploss.data.cifar10 import STANDIN_DESCRIPTION
from synoploss.experiments.workdir import Workdir
from synoploss.io import file_sha256, load_state
from synoploss.models import CIFAR10AnalogueClassifier

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
    # the original's round 0: QAT without the SynOp loss, so no target
    assert np.isnan(log.loc[log["round"] == 0, "target"].item())
    assert log["fanout"].eq("paper").all()
    assert log["has_output_relu"].tolist() == [False, True]
    # every setting of the run is in every row
    assert set(train.parse_args([]).run_settings) <= set(log.columns)
    test.main(["--workdir", str(tmp_path), "--standin", "--n_test", "32",
               "--baseline_scales", "5", "50", "--n_timesteps", "4",
               "--data_root", str(tmp_path / "none"), "--export_nir", str(tmp_path / "nir")])
    inference = pd.read_csv(Workdir(tmp_path).cifar_inference)
    assert sorted(p.name for p in (tmp_path / "nir").iterdir()) == [
        "d0.2_0.1_-1_x5.nir", "d0.2_0.1_-1_x50.nir", "d0.2_0.1_0_x1.5.nir", "d0.2_0.1_0_x2.nir"]
    assert inference[["round", "weight_scale"]].values.tolist() == [
        [-1, 5], [-1, 50], [0, 1.5], [0, 2]]
    plain = inference[inference["round"] == -1]
    # ann_macs: the MACs without the input layer (width 0.1: 10 and 19 channels);
    # ann_synops: the estimate, for every round
    assert inference["ann_macs"].nunique() == 1 and (inference["ann_macs"] > 1e5).all()
    assert (inference["ann_synops"] == inference["ann_quantized_synops"]).all()
    # energy: SynOps x 23.6 pJ + the first conv's MACs (3x3x3 -> 10 channels at width 0.1,
    # 32x32 outputs) at each of the 4 steps x 4.6 pJ
    first_layer_macs = 3 * 3 * 3 * 10 * 32 * 32
    assert (inference["input_macs"] == first_layer_macs * 4).all()
    np.testing.assert_allclose(inference["energy_uj"], (inference["snn_synops"] * 23.6
                                                        + first_layer_macs * 4 * 4.6) / 1e6)
    assert plain["snn_synops"].is_monotonic_increasing
    assert inference["data"].eq(STANDIN_DESCRIPTION).all()


@pytest.mark.parametrize("extra,plain_relus", [([], 8), (["--output_relu"], 9)])
def test_the_plain_network_has_an_output_relu_only_with_the_flag(tmp_path, extra, plain_relus):
    args = train.parse_args(TINY + extra)
    from synoploss.quantize import NeuromorphicReLU
    relus = [m for m in train.build_model(args, -1).modules() if isinstance(m, NeuromorphicReLU)]
    assert len(relus) == plain_relus
    relus = [m for m in train.build_model(args, 0).modules() if isinstance(m, NeuromorphicReLU)]
    assert len(relus) == 9  # the rounds always have it, as the original


def test_first_round_synop_loss_targets_the_macs(tmp_path):
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_epochs", "1", "--round_epochs", "1", "--n_rounds", "1",
                         "--first_round_synop_loss", "--fanout", "exact"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log.loc[log["round"] == 0, "target"].item() == log["ann_macs"].iloc[0]
    assert log["fanout"].eq("exact").all()


def test_targets_decay_from_the_chosen_round(tmp_path):
    """target(r) = SynOps(r - 1) x (0.7 if r >= --decay_from_round else 1), as the
    original's schedule (its factor 0.7 from round 17 on)."""
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none"),
                     "--n_epochs", "1", "--round_epochs", "1", "--n_rounds", "3",
                     "--decay_from_round", "2"]
    train.main(common)
    log = pd.read_csv(Workdir(tmp_path).training_log).set_index("round")
    assert log.loc[1, "target"] == pytest.approx(log.loc[0, "test_synops"], rel=1e-6)
    assert log.loc[2, "target"] == pytest.approx(0.7 * log.loc[1, "test_synops"], rel=1e-6)


def test_the_original_schedule_is_the_default():
    args = train.parse_args([])
    assert (args.n_epochs, args.round_epochs, args.n_rounds) == (350, 350, 31)
    assert (args.decay_from_round, args.target_decay) == (17, 0.7)
    assert not args.output_relu and not args.first_round_synop_loss
    assert args.fanout == "paper"
    assert args.round0_scale == 1.0  # the original computes a scale but does not use it


@pytest.mark.parametrize("flag,expected", [("1.0", 1.0), ("2.5", 2.5), ("auto", "auto")])
def test_round0_scale_flag_reaches_the_schedule(flag, expected):
    assert train.schedule_of(train.parse_args(["--round0_scale", flag])).round0_scale == expected


@pytest.mark.parametrize("resume", [False, True])
def test_round0_starts_from_the_scaled_plain_network(tmp_path, resume):
    """With a learning rate too small to move the weights, round 0's checkpoint is the
    plain network's with the first layer (only) times the original's w_scale, MACs / the
    plain network's logged SynOps x 8, whether round 0 follows at once or on --resume."""
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none"),
                     "--n_epochs", "1", "--round_epochs", "1", "--lr", "1e-12",
                     "--round0_scale", "auto"]
    if resume:
        train.main(common + ["--n_rounds", "0"])
    train.main(common + ["--n_rounds", "1"] + (["--resume"] if resume else []))
    log = pd.read_csv(Workdir(tmp_path).training_log)
    scale = log["ann_macs"].iloc[0] / log.loc[log["round"] == -1, "test_synops"].iloc[-1] * 8
    models = Workdir(tmp_path).models
    plain, round0 = (torch.load(models / f"d0.2_0.1_{r}.pth") for r in (-1, 0))
    assert scale > 2
    assert torch.allclose(round0["seq.1.weight"], scale * plain["seq.1.weight"], rtol=1e-4)
    assert torch.allclose(round0["seq.4.weight"], plain["seq.4.weight"], rtol=1e-4)


def test_models_folder_tests_original_named_checkpoints_without_a_log(tmp_path):
    """--models: the authors' names (round 30 saved as _0.1), width from the weights,
    the analog numbers before and after the first-layer scale."""
    folder = tmp_path / "released"
    folder.mkdir()
    for name in ("d0.2_0.1_-1.pth", "d0.2_0.1_0.1.pth"):
        torch.save(CIFAR10AnalogueClassifier(width=0.125).state_dict(), folder / name)
    test.main(["--workdir", str(tmp_path), "--models", str(folder), "--standin", "--n_test",
               "16", "--n_timesteps", "2", "--baseline_scales", "5", "--wscales", "2",
               "--data_root", str(tmp_path / "none"), "--device", "cpu"])
    inference = pd.read_csv(Workdir(tmp_path).cifar_inference)
    assert inference["round"].tolist() == [-1, 30]
    assert inference["width"].eq(0.125).all() and inference["fanout"].eq("paper").all()
    for column in ("ann_accuracy", "ann_quantized_synops", "ann_scaled_accuracy",
                   "ann_scaled_synops"):
        assert inference[column].notna().all()
    # scaling the first layer up raises the activity, so the estimate after it is larger
    assert (inference["ann_scaled_synops"] > inference["ann_quantized_synops"]).all()


def test_models_folder_without_checkpoints_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no d<p_in>_<p_hidden>_<round>.pth"):
        test.main(["--workdir", str(tmp_path), "--models", str(tmp_path), "--standin"])


def test_resume_continues_after_the_last_round(tmp_path):
    common = TINY + ["--workdir", str(tmp_path), "--n_epochs", "1", "--round_epochs", "1",
                     "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_rounds", "1"])
    plain = tmp_path / "models" / "d0.2_0.1_-1.pth"
    # every write is atomic (a new file renamed over the old): a rewrite changes the inode
    stamp = (plain.stat().st_ino, file_sha256(plain))
    with pytest.raises(SystemExit, match="pass --resume"):
        train.main(common + ["--n_rounds", "2"])
    train.main(common + ["--n_rounds", "2", "--resume"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["round"].tolist() == [-1, 0, 1]
    assert (plain.stat().st_ino, file_sha256(plain)) == stamp
    # round 1's target is round 0's estimated SynOps (decay 1.0 before round 17)
    round0 = log[log["round"] == 0].iloc[-1]
    assert log.loc[log["round"] == 1, "target"].item() == pytest.approx(round0["test_synops"],
                                                                        rel=1e-6)


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
    (["--round0_scale", "0"], "--round0_scale: must be positive"),
    (["--round0_scale", "big"], "--round0_scale: not a number: 'big'"),
])
def test_bad_cifar_flags_are_named(tmp_path, capsys, argv, message):
    script = test if argv[0] == "--n_timesteps" else train
    with pytest.raises(SystemExit):
        script.main(argv + ["--workdir", str(tmp_path)])
    assert re.search(message, capsys.readouterr().err)


def test_the_scripts_say_where_cifar_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="train.py: CIFAR-10 not found"):
        train.main(["--data_root", str(tmp_path), "--workdir", str(tmp_path)])


@pytest.mark.parametrize("script,flag", [(train, "--synthetic"), (test, "--n_dt"),
                                         (test, "--n_train")])
def test_flags_of_no_release_are_refused(tmp_path, capsys, script, flag):
    """The aliases of renamed flags, and test.py's ignored --n_train, are gone."""
    with pytest.raises(SystemExit):
        script.main(["--workdir", str(tmp_path), flag, "2"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused_and_fresh_starts_again(tmp_path):
    common = TINY + ["--workdir", str(tmp_path), "--n_epochs", "1", "--round_epochs", "1",
                     "--data_root", str(tmp_path / "none"), "--n_rounds", "1"]
    train.main(common)
    with pytest.raises(SystemExit, match=r"other settings \(dropout: '0.2 0.1' then, "
                                         r"'0.2 0.3' now\); continue it"):
        train.main(common + ["--resume", "--dropout", "0.2", "0.3"])
    with pytest.raises(SystemExit, match=r"width: 0.1 then, 0.2 now"):
        train.main(common + ["--resume", "--width", "0.2"])
    train.main(common + ["--fresh", "--dropout", "0.2", "0.3"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["dropout"].eq("0.2 0.3").all() and log["round"].tolist() == [-1, 0]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "d0.2_0.3_-1.pth", "d0.2_0.3_0.pth"]


def test_resume_retrains_a_truncated_last_checkpoint(tmp_path, capsys):
    common = TINY + ["--workdir", str(tmp_path), "--n_epochs", "1", "--round_epochs", "1",
                     "--data_root", str(tmp_path / "none"), "--n_rounds", "1"]
    train.main(common)
    last = tmp_path / "models" / "d0.2_0.1_0.pth"
    last.write_bytes(last.read_bytes()[:100])
    train.main(common + ["--resume"])
    assert "round 0:" in capsys.readouterr().out and "not a readable" not in str(last)
    load_state(CIFAR10AnalogueClassifier(quantize=True, width=0.1), last)


def test_test_py_tests_the_logged_run_not_other_files(tmp_path):
    """A checkpoint of another run (other dropout) in models/ is not tested; a test of some
    rounds keeps the other rounds' rows; a quick --n_test rerun adds rows beside."""
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_epochs", "1", "--round_epochs", "1", "--n_rounds", "1"])
    torch.save(CIFAR10AnalogueClassifier(width=0.1, dropout_rate=(0.5, 0.5)).state_dict(),
               tmp_path / "models" / "d0.5_0.5_0.pth")
    run = ["--workdir", str(tmp_path), "--standin", "--n_timesteps", "2", "--baseline_scales",
           "5", "--wscales", "2", "--data_root", str(tmp_path / "none"), "--simulator", "fast"]
    test.main(run + ["--n_test", "16"])
    frame = pd.read_csv(Workdir(tmp_path).cifar_inference)
    assert sorted(frame["model_path"]) == ["models/d0.2_0.1_-1.pth", "models/d0.2_0.1_0.pth"]
    test.main(run + ["--n_test", "16", "--rounds", "0", "--fresh"])
    test.main(run + ["--n_test", "8"])
    frame = pd.read_csv(Workdir(tmp_path).cifar_inference)
    assert sorted(zip(frame["round"], frame["n_samples"], strict=True)) == [
        (-1, 8), (-1, 16), (0, 8), (0, 16)]


def test_test_py_writes_each_result_as_it_goes(tmp_path, monkeypatch):
    common = TINY + ["--workdir", str(tmp_path), "--data_root", str(tmp_path / "none")]
    train.main(common + ["--n_epochs", "1", "--n_rounds", "0"])
    calls = []
    original = test.spiking_test_row

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(test, "spiking_test_row", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        test.main(["--workdir", str(tmp_path), "--standin", "--n_test", "16", "--n_timesteps", "2",
                   "--baseline_scales", "5", "50", "--data_root", str(tmp_path / "none")])
    assert len(pd.read_csv(Workdir(tmp_path).cifar_inference)) == 1
    # a rerun keeps the row measured and measures the one left
    test.main(["--workdir", str(tmp_path), "--standin", "--n_test", "16", "--n_timesteps", "2",
               "--baseline_scales", "5", "50", "--data_root", str(tmp_path / "none")])
    assert len(calls) == 3
    assert pd.read_csv(Workdir(tmp_path).cifar_inference)["weight_scale"].tolist() == [5, 50]


def test_a_round_replaced_after_training_is_refused_by_test_and_resume(tmp_path):
    """Each round's last log row records the hash of the checkpoint saved; test.py and
    --resume refuse a checkpoint that loads but is another one."""
    common = TINY + ["--workdir", str(tmp_path), "--n_epochs", "1", "--round_epochs", "1",
                     "--data_root", str(tmp_path / "none"), "--n_rounds", "1"]
    train.main(common)
    log = pd.read_csv(Workdir(tmp_path).training_log)
    last_rows = log.sort_values("epoch").groupby("round").tail(1).set_index("round")
    for round_index in (-1, 0):
        path = tmp_path / "models" / f"d0.2_0.1_{round_index}.pth"
        assert last_rows.loc[round_index, "model_sha256"] == file_sha256(path)
    models = tmp_path / "models"
    (models / "d0.2_0.1_0.pth").write_bytes((models / "d0.2_0.1_-1.pth").read_bytes())
    changed = r"d0.2_0.1_0.pth: its content \(sha256 [0-9a-f]+\) is not the model"
    with pytest.raises(SystemExit, match=changed):
        test.main(["--workdir", str(tmp_path), "--standin", "--n_timesteps", "2",
                   "--data_root", str(tmp_path / "none"), "--simulator", "fast"])
    with pytest.raises(SystemExit, match=changed):
        train.main(common + ["--resume", "--n_rounds", "2"])

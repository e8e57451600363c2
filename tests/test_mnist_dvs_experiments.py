"""The MNIST-DVS scripts end to end on a tiny emulated dataset."""
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO, load_script
from synoploss.experiments.workdir import Workdir
from synoploss.io import file_sha256

train = load_script("mnist_dvs/train.py")
test_spiking = load_script("mnist_dvs/test_spiking.py")
benchmark = load_script("mnist_dvs/optimization_benchmarking.py")
summarize = load_script("mnist_dvs/summarize_results.py")
smart = load_script("mnist_dvs/smart_weight_rescaling.py")
quant_eval = load_script("mnist_dvs/quantization_evaluation.py")
generate = load_script("mnist_dvs/generate_DV4_dataset.py")
makelist = load_script("mnist_dvs/MNIST_DVS/makelist.py")
activity = load_script("mnist_dvs/activity-accuracy.py")

QUICK = ["--n_epochs", "1", "--batch_size", "16", "--no_progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tiny_mnist_dvs, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep")
    # exact fan-outs: sinabs' measurement is the oracle of these models' estimates
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(workdir), *QUICK,
              "--fanout", "exact"]
    train.main(common + ["--nopenalty"])
    train.main(common + ["--quantize_training", "--n_models", "2", "--target_min", "2e5",
                         "--target_max", "1e6"])
    train.main(common + ["--n_models", "2", "--target_min", "2e5", "--target_max", "1e6"])
    return workdir


def test_training_log(trained):
    log = pd.read_csv(Workdir(trained).training_log)
    assert sorted(log["model_path"]) == [
        "models/l1-fanout-qtrain_1e+06.pth", "models/l1-fanout-qtrain_2e+05.pth",
        "models/l1-fanout_1e+06.pth", "models/l1-fanout_2e+05.pth", "models/nopenalty.pth"]
    assert log["data"].str.startswith("STAND-IN").all()
    assert {"test_accuracy", "estimated_synops", "cross_entropy",
            "wall_seconds"} <= set(log.columns)
    assert (log["estimated_synops"] > 0).all()
    for path in log["model_path"]:
        assert (trained / path).is_file()


def test_resume_keeps_models_made_the_same_way_and_refuses_others(trained, tiny_mnist_dvs,
                                                                   capsys):
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(trained), *QUICK,
              "--fanout", "exact", "--nopenalty"]
    digest = file_sha256(trained / "models" / "nopenalty.pth")
    train.main(common)
    assert "already in" in capsys.readouterr().out
    assert file_sha256(trained / "models" / "nopenalty.pth") == digest  # not trained again
    assert len(pd.read_csv(Workdir(trained).training_log)) == 5
    # other settings: refused before any training, naming each difference
    for extra, named in ((["--n_epochs", "3"], "n_epochs: 1 then, 3 now"),
                         (["--lr", "1e-2"], "lr: 0.001 then, 0.01 now")):
        with pytest.raises(SystemExit, match=f"models/nopenalty.pth .* other settings "
                                             f"\\({named}\\); pass --fresh"):
            train.main(common + extra)
    with pytest.raises(SystemExit, match="fanout: 'exact' then, 'paper' now"):
        train.main(common[:-3] + ["--nopenalty"])
    log = pd.read_csv(Workdir(trained).training_log)
    assert set(train.parse_args([]).run_settings) <= set(log.columns)
    assert log["data_fingerprint"].nunique() == 1 and log["model_sha256"].notna().all()


def test_fresh_trains_again_and_replaces_the_row(tiny_mnist_dvs, tmp_path):
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), *QUICK,
              "--nopenalty"]
    train.main(common)
    train.main(common + ["--fresh", "--lr", "1e-2"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["lr"].tolist() == [0.01]


def test_other_seeds_get_their_own_models_and_rows(tiny_mnist_dvs, tmp_path):
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), *QUICK,
              "--nopenalty"]
    for seed in ("1", "2"):
        train.main(common + ["--seed", seed])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert sorted(zip(log["model_path"], log["seed"], strict=True)) == [
        ("models/nopenalty.pth", 1), ("models/nopenalty_seed2.pth", 2)]
    assert file_sha256(tmp_path / "models" / "nopenalty.pth") != \
        file_sha256(tmp_path / "models" / "nopenalty_seed2.pth")


@pytest.mark.parametrize("mode,name,rows", [
    ("nopenalty", "nopenalty", 1), ("quantized", "l1-fanout-qtrain", 2),
    ("nonquantized", "l1-fanout", 2), ("weightscaling", "weightscaling", 3)])
def test_spiking_modes(trained, tiny_mnist_dvs, mode, name, rows):
    test_spiking.main(["--mode", mode, "--workdir", str(trained),
                       "--data_root", str(tiny_mnist_dvs),
                       "--scales", "0.3", "0.6", "0.9", "--batch_size", "8"])
    frame = pd.read_csv(Workdir(trained).spiking_csv(name))
    assert len(frame) == rows
    layers = ["input_relu", "seq_1", "seq_4", "seq_7"]
    assert {f"snn_synops_{layer}" for layer in layers} <= set(frame.columns)
    total = frame[[f"snn_synops_{layer}" for layer in layers]].sum(axis=1)
    np.testing.assert_allclose(total, frame["snn_synops"], rtol=1e-6)
    # the input events are counted exactly by both; each chunk has 3000 events
    np.testing.assert_allclose(frame["snn_synops_input_relu"], frame["ann_synops_input_relu"],
                               rtol=1e-5)
    if mode == "weightscaling":
        assert frame["scale"].tolist() == [0.3, 0.6, 0.9]
        assert frame["snn_synops"].is_monotonic_increasing
    # energy per inference on Loihi (the default): SynOps x 23.6 pJ, in µJ
    assert (frame["energy_model"] == "loihi").all()
    np.testing.assert_allclose(frame["energy_uj"], frame["snn_synops"] * 23.6e-6, rtol=1e-9)


def test_estimate_and_measurement_on_a_trained_model(trained, tiny_mnist_dvs):
    """With the whole chunk as one time step, sinabs measures exactly our estimate; at
    1 ms, conv1 (fed the exact events) can only spike more: cumulative spikes are the
    running maximum of floor(cumulative input), never below floor(total input)."""
    results = {}
    for dt_us in (10 ** 9, 1000):
        out = trained / f"dt{dt_us}"
        out.mkdir()
        (Workdir(out).training_log).write_bytes((Workdir(trained).training_log).read_bytes())
        (out / "models").symlink_to(trained / "models")
        test_spiking.main(["--mode", "quantized", "--workdir", str(out), "--data_root",
                           str(tiny_mnist_dvs), "--dt_us", str(dt_us)])
        results[dt_us] = pd.read_csv(Workdir(out).spiking_csv("l1-fanout-qtrain"))
    whole = results[10 ** 9]
    np.testing.assert_allclose(whole["snn_synops"], whole["ann_synops"], rtol=1e-5)
    np.testing.assert_allclose(whole["snn_accuracy"], whole["ann_accuracy"])
    fine = results[1000]
    assert (fine["snn_synops_seq_1"] >= fine["ann_synops_seq_1"] * (1 - 1e-6)).all()


def test_ann_mode_and_benchmark_and_summary(trained, tiny_mnist_dvs, capsys):
    test_spiking.main(["--mode", "ann", "--workdir", str(trained),
                       "--data_root", str(tiny_mnist_dvs)])
    ann = pd.read_csv(Workdir(trained).ann_csv("l1-fanout-qtrain"))
    assert len(ann) == 4 and set(ann["quantize_test"]) == {True, False}
    # every curve the claims draw on (kept where test_spiking_modes measured them)
    for mode in ("nopenalty", "quantized", "nonquantized", "weightscaling"):
        test_spiking.main(["--mode", mode, "--workdir", str(trained),
                           "--data_root", str(tiny_mnist_dvs), "--scales", "0.3", "0.6", "0.9",
                           "--batch_size", "8"])
    benchmark.main(["--workdir", str(trained), "--max_drop", "100"])
    saved = np.load(Workdir(trained).opt_benchmark)
    assert {"baseline_activity", "optimized_activity", "baseline_accuracy",
            "optimized_accuracy"} <= set(saved.files)
    assert saved["baseline_activity"].shape == saved["optimized_activity"].shape == (4,)
    chosen = pd.read_csv(Workdir(trained).spiking_csv("l1-fanout-qtrain"))
    assert saved["optimized_activity"].sum() == pytest.approx(chosen["snn_synops"].min())
    summarize.main(["--workdir", str(trained), "--resamples", "200"])
    output = capsys.readouterr().out
    assert "STAND-IN" in output and "evaluation: sinabs simulator, 20 test samples" in output
    # the paper's claims, each with its interval and a verdict the interval decides
    claims = pd.read_csv(Workdir(trained).results / "claims.csv")
    assert claims["verdict"].isin(["supported", "contradicted", "not shown"]).all()
    assert claims["claim"].str.contains("at most 1.3 points less accurate").any()
    assert claims["paper"].str.contains("about 6x").any()
    summary = pd.read_csv(Workdir(trained).summary)
    assert len(summary) >= 3 and (summary["snn_accuracy_low"] <= summary["snn_accuracy"]).all()
    assert (summary["snn_accuracy"] <= summary["snn_accuracy_high"]).all()


def test_activity_accuracy_writes_both_runs_into_one_file(trained, tiny_mnist_dvs):
    common = ["--workdir", str(trained), "--data_root", str(tiny_mnist_dvs), "--device", "cpu",
              "--scales", "0.01", "0.1", "1"]
    for quantized in ([], ["--quantize_testing"], ["--quantize_testing"]):  # a rerun replaces
        activity.main(common + quantized)
    frame = pd.read_csv(Workdir(trained).activity_accuracy)
    # per run: 2 SynOp+QAT, 2 SynOp, 3 scales of the baseline, the baseline
    assert len(frame) == 16
    assert frame.groupby("quantize_test")["curve"].apply(sorted).tolist() == [
        sorted(["SynOp+QAT"] * 2 + ["SynOp"] * 2 + ["weight scaling"] * 3 + ["baseline"])] * 2
    assert frame["fanout"].eq("exact").all()  # as the models were trained
    for _quantized, rows in frame.groupby("quantize_test"):
        scaled = rows[rows["curve"] == "weight scaling"].sort_values("scale")
        assert scaled["ann_synops"].is_monotonic_increasing
        base = rows[rows["curve"] == "baseline"].iloc[0]
        # the baseline is the weight-scaling curve's scale 1
        assert scaled.iloc[-1][["ann_accuracy", "ann_synops"]].tolist() == pytest.approx(
            [base["ann_accuracy"], base["ann_synops"]])
    # the paper's constants overcount the border neurons: never less than the exact maps
    exact = frame[frame["quantize_test"]].set_index(["curve", "model_path", "scale"])
    activity.main(common + ["--quantize_testing", "--fanout", "paper"])
    both = pd.read_csv(Workdir(trained).activity_accuracy)
    assert len(both) == 24  # the paper fan-outs' rows beside the exact ones
    paper = both[both["quantize_test"] & both["fanout"].eq("paper")]
    paper = paper.set_index(["curve", "model_path", "scale"])
    assert (paper["ann_synops"] >= exact.loc[paper.index, "ann_synops"] - 1e-6).all()
    assert (paper["ann_accuracy"] == exact.loc[paper.index, "ann_accuracy"]).all()


def test_benchmark_with_a_chosen_model_and_a_wrong_one(trained):
    benchmark.main(["--workdir", str(trained), "--model", "models/l1-fanout-qtrain_1e+06.pth"])
    with pytest.raises(SystemExit, match="not among the tested models"):
        benchmark.main(["--workdir", str(trained), "--model", "models/other.pth"])


def test_smart_rescaling_and_quantization_evaluation(trained, tiny_mnist_dvs):
    smart.main(["--workdir", str(trained), "--data_root", str(tiny_mnist_dvs),
                "--levels", "4", "16", "--calibration_samples", "30"])
    frame = pd.read_csv(Workdir(trained).spiking_csv("smartscaling"))
    assert frame["level"].tolist() == [4, 16] and frame["snn_synops"].is_monotonic_increasing
    quant_eval.main(["--workdir", str(trained), "--data_root", str(tiny_mnist_dvs), *QUICK])
    frame = pd.read_csv(Workdir(trained).quantization_evaluation)
    assert len(frame) == 4 and frame["snn_accuracy"].notna().sum() == 2


def test_sharding_splits_the_sweep(tiny_mnist_dvs, tmp_path):
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), *QUICK,
              "--quantize_training", "--n_models", "3"]
    train.main(common + ["--shard", "2/2"])
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["model_path"].tolist() == ["models/l1-fanout-qtrain_1.41e+05.pth"]
    train.main(common + ["--shard", "1/2"])
    sharded = pd.read_csv(Workdir(tmp_path).training_log).sort_values("model_path")
    assert len(sharded) == 3
    # a model's result does not depend on the shard layout
    whole = tmp_path / "whole"
    train.main(common[:3] + [str(whole)] + common[4:])
    unsharded = pd.read_csv(Workdir(whole).training_log).sort_values("model_path")
    assert unsharded["model_path"].tolist() == sharded["model_path"].tolist()
    np.testing.assert_allclose(unsharded["estimated_synops"], sharded["estimated_synops"])
    np.testing.assert_allclose(unsharded["test_accuracy"], sharded["test_accuracy"])


def test_a_failing_model_keeps_the_log_valid(tiny_mnist_dvs, tmp_path, capsys):
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), *QUICK]
    train.main(common + ["--nopenalty"])
    with pytest.raises(SystemExit, match=r"[12] model\(s\) failed"):
        train.main(common + ["--n_models", "2", "--lr", "1e30"])
    assert "FAILED l1-fanout target" in capsys.readouterr().err
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert "models/nopenalty.pth" in log["model_path"].tolist()
    assert log["test_accuracy"].notna().all()


@pytest.mark.parametrize("argv,message", [
    (["--mode", "quantized"], "training_log.csv not found (run train.py with --workdir"),
    (["--mode", "sideways"], None),
])
def test_spiking_bad_input(tmp_path, argv, message):
    with pytest.raises(SystemExit) as raised:
        test_spiking.main(argv + ["--workdir", str(tmp_path)])
    if message:
        assert message in str(raised.value)
    else:
        assert raised.value.code == 2  # argparse lists the valid modes


def test_missing_mode_models_lists_what_exists(trained, tiny_mnist_dvs, tmp_path):
    log = pd.read_csv(Workdir(trained).training_log)
    log[log["name"] == "nopenalty"].to_csv(Workdir(tmp_path).training_log, index=False)
    with pytest.raises(SystemExit, match=r"it has: \['nopenalty'\]"):
        test_spiking.main(["--mode", "quantized", "--workdir", str(tmp_path),
                           "--data_root", str(tiny_mnist_dvs)])


def test_generate_and_makelist_cli(tmp_path):
    with pytest.raises(SystemExit, match="not a folder"):
        generate.main(["--root", str(tmp_path / "absent"), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="no recordings"):
        makelist.main(["--root", str(tmp_path), "--split", "sorted"])
    with pytest.raises(SystemExit, match="makelist.py: 10000 of 10000 recordings of the paper "
                                         "split are missing, e.g. .*mnist_0_scale16_0289.aedat"):
        makelist.main(["--root", str(tmp_path)])
    generate.main(["--standin", "--out", str(tmp_path / "out"), "--train_per_digit", "1",
                   "--test_per_digit", "1", "--events_per_recording", "3000", "--workers", "1"])
    assert len(list((tmp_path / "out" / "train").glob("*.npz"))) == 10
    makelist.main(["--root", str(tmp_path / "out" / "emulated_aedat"), "--split", "sorted",
                   "--train_per_digit", "1"])


SCRIPTS = sorted(str(path.relative_to(REPO)) for folder in
                 ("mnist_dvs", "CIFAR10_analogue", "mnist_quant_only", "examples", "benchmarks")
                 for path in (REPO / folder).glob("*.py") if path.name != "model.py")


class _Parsed(Exception):
    def __init__(self, parser):
        self.parser = parser


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_a_full_help(script, monkeypatch):
    """--help is the module docstring (what it does, its outputs) and every flag has its
    own help text; `--help` itself runs in a fresh interpreter."""
    import argparse

    def capture(parser, *args, **kwargs):
        raise _Parsed(parser)
    module = load_script(script)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed) as parsed:
        module.main([])
    parser = parsed.value.parser
    assert parser.description and parser.description.strip() == module.__doc__.strip()
    missing = [action.option_strings for action in parser._actions
               if action.option_strings and action.help in (None, "")]
    assert not missing, f"{script}: flags without help: {missing}"
    if script == "mnist_dvs/train.py":  # one real --help end to end
        result = subprocess.run([sys.executable, str(REPO / script), "--help"],
                                capture_output=True, text=True, check=True)
        assert result.stdout.startswith("usage: train.py") and "--quantize_training" in \
            result.stdout


def test_generate_reads_only_the_folder_it_is_given(tmp_path, capsys):
    """No --root and no --standin: a clear error saying how to get the data, and nothing
    read from anywhere (the script's own folder included)."""
    with pytest.raises(SystemExit):
        generate.main(["--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "--root" in err and "--standin" in err and "MNISTDVS" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["train", "test_spiking"])
def test_missing_data_names_where_and_the_flag(tmp_path, script):
    """Without converted data and without --standin, nothing falls back to the stand-in."""
    argv = {"train": ["--nopenalty", *QUICK], "test_spiking": ["--mode", "nopenalty"]}[script]
    if script == "test_spiking":
        (tmp_path / "training_log.csv").write_text("name,target,alpha,quantize_training,"
                                                   "model_path\nnopenalty,,,False,models/x.pth\n")
    with pytest.raises(SystemExit, match=r"no converted MNIST-DVS in .*data .*--standin"):
        {"train": train, "test_spiking": test_spiking}[script].main(
            ["--workdir", str(tmp_path), *argv])


@pytest.mark.parametrize("extra,message", [
    (["--n_models", "40", "--target_min", "1e5", "--target_max", "1.05e5"],
     "would all be saved as models/l1-fanout_1e\\+05.pth"),
    (["--n_epochs", "0"], "--n_epochs: must be a positive integer, got 0"),
    (["--batch_size", "0"], "--batch_size: must be a positive integer"),
    (["--lr", "-1"], "--lr: must be positive"),
    (["--device", "foo"], None),
])
def test_bad_training_flags_stop_before_any_training(tiny_mnist_dvs, tmp_path, capsys, extra,
                                                     message):
    with pytest.raises(SystemExit) as raised:
        train.main(["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path / "w"),
                    "--no_progress", *extra])
    text = capsys.readouterr().err + str(raised.value.code)
    assert re.search(message or "--device foo: not a device name", text)
    assert not (tmp_path / "w" / "training_log.csv").exists()


def test_unusable_workdir_and_foreign_checkpoint_fail_before_training(tiny_mnist_dvs, tmp_path,
                                                                      capsys):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SystemExit, match="--workdir .*afile: is a file"):
        train.main(["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path / "afile"),
                    *QUICK])
    foreign = tmp_path / "foreign.pth"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(SystemExit):
        train.main(["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path / "w"), *QUICK,
                    "--init_from", str(foreign)])
    assert "does not fit MNISTDVSNet" in capsys.readouterr().err
    assert not (tmp_path / "w" / "models").exists()


def test_a_diverged_model_is_not_logged_as_a_result(tiny_mnist_dvs, tmp_path, capsys):
    """--lr 1e9 leaves every ReLU silent at cross-entropy ln 10 without any NaN."""
    with pytest.raises(SystemExit, match=r"1 model\(s\) failed: nopenalty.pth"):
        train.main(["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path), *QUICK,
                    "--nopenalty", "--lr", "1e9"])
    # on this tiny run the loss also turns NaN; either way the model is refused
    assert re.search("FAILED nopenalty .*(diverged|nan)", capsys.readouterr().err)
    assert not (Workdir(tmp_path).training_log).exists()


@pytest.mark.parametrize("content", ["", "name,model_path\n"])
def test_empty_or_columnless_results_are_named(tmp_path, content):
    (tmp_path / "results").mkdir()
    (Workdir(tmp_path).spiking_csv("nopenalty")).write_text(content)
    with pytest.raises(SystemExit, match="nopenalty_spiking.csv: no column"):
        summarize.main(["--workdir", str(tmp_path)])
    (Workdir(tmp_path).training_log).write_text(content)
    with pytest.raises(SystemExit, match="training_log.csv: no column"):
        test_spiking.main(["--mode", "quantized", "--workdir", str(tmp_path)])


@pytest.mark.parametrize("script,argv,message", [
    ("test_spiking", ["--mode", "quantized", "--dt_us", "0"], "--dt_us: must be a positive"),
    ("smart", ["--percentile", "200"], r"--percentile: must be in \(0, 100\]"),
])
def test_bad_test_flags_are_named(tmp_path, capsys, script, argv, message):
    with pytest.raises(SystemExit):
        {"test_spiking": test_spiking, "smart": smart}[script].main(argv + ["--workdir",
                                                                           str(tmp_path)])
    assert re.search(message, capsys.readouterr().err)


def test_spiking_networks_export_to_nir(trained, tiny_mnist_dvs, tmp_path):
    from synoploss.hardware.nir_export import import_nir
    test_spiking.main(["--mode", "quantized", "--workdir", str(trained), "--data_root",
                       str(tiny_mnist_dvs), "--export_nir", str(tmp_path)])
    frame = pd.read_csv(Workdir(trained).spiking_csv("l1-fanout-qtrain"))
    frame = frame[frame["nir_path"].notna()]
    assert [p.split("/")[-1] for p in frame["nir_path"]] == [
        "l1-fanout-qtrain_2e+05.nir", "l1-fanout-qtrain_1e+06.nir"]
    # the file is the tested network: read back, it spikes as the checkpoint converted now
    import sinabs
    from torch.utils.data import DataLoader

    from synoploss.data.mnist_dvs import SpikeTrainDataset, pad_collate
    from synoploss.io import load_state
    from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
    from synoploss.spiking import to_spiking
    from synoploss.spiking.sinabs_run import run_steps
    row = frame.iloc[0]
    model = load_state(MNISTDVSNet(quantize=True), Workdir(trained).model(row["model_path"]))
    data, _ = next(iter(DataLoader(SpikeTrainDataset(tiny_mnist_dvs / "test", max_samples=6),
                                   6, collate_fn=pad_collate)))
    back = import_nir(row["nir_path"], batch_size=6)
    sinabs.utils.reset_states(back)
    steps = data.shape[1]
    read_back = back(data.reshape(6 * steps, *data.shape[2:])).reshape(6, steps, -1).sum(1)
    assert read_back.sum() > 0  # not an empty network
    assert torch.equal(read_back, run_steps(to_spiking(model, MNIST_DVS_INPUT), data).sum(1))


@pytest.fixture
def replaced_baseline(trained, tmp_path):
    """A copy of the trained work folder whose models/nopenalty.pth was overwritten by a
    SynOp+QAT checkpoint after training (the log still records the baseline's hash)."""
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy, ignore=shutil.ignore_patterns("results"))
    shutil.copy(copy / "models" / "l1-fanout-qtrain_2e+05.pth", copy / "models" / "nopenalty.pth")
    return copy


CHANGED = r"nopenalty.pth: its content \(sha256 [0-9a-f]+\) is not the model .*recorded"


@pytest.mark.parametrize("script,argv", [
    (test_spiking, ["--mode", "nopenalty"]), (test_spiking, ["--mode", "weightscaling"]),
    (test_spiking, ["--mode", "ann"]), (smart, ["--levels", "4"]), (activity, []),
])
def test_a_checkpoint_replaced_after_training_is_refused(replaced_baseline, tiny_mnist_dvs,
                                                         script, argv):
    with pytest.raises(SystemExit, match=CHANGED):
        script.main(argv + ["--workdir", str(replaced_baseline), "--data_root",
                            str(tiny_mnist_dvs), "--max_samples", "16"])
    assert not Workdir(replaced_baseline).spiking_csv("nopenalty").is_file()


def test_live_and_the_benchmark_refuse_a_replaced_checkpoint(replaced_baseline, tiny_mnist_dvs):
    live = load_script("mnist_dvs/live.py")
    with pytest.raises(ValueError, match=CHANGED):
        live.load_network(str(replaced_baseline / "models" / "nopenalty.pth"))
    bench = load_script("benchmarks/spiking_throughput.py")
    args = bench.parse_args(["--mnist_dvs_dir", str(replaced_baseline), "--samples", "4"])
    (replaced_baseline / "data").symlink_to(tiny_mnist_dvs)
    with pytest.raises(ValueError, match=CHANGED):
        bench.mnist_dvs_case(args, torch.device("cpu"))


@pytest.mark.parametrize("extra,check", [
    (["--energy_model", "truenorth"],
     lambda row: row["energy_model"] == "truenorth"
     and np.isclose(row["energy_uj"], row["snn_synops"] * 2.5e-6)),
    (["--chip", "speck"], lambda row: row["chip"] == "speck" and row["chip_cores"] > 0),
])
def test_a_rerun_with_other_output_options_measures_the_rows_again(trained, tiny_mnist_dvs,
                                                                   tmp_path, capsys, extra,
                                                                   check):
    """Rows already measured with other output options are not kept without the columns
    those options write: they are measured again."""
    import shutil
    workdir = tmp_path / "copy"
    shutil.copytree(trained, workdir, ignore=shutil.ignore_patterns("results"))
    common = ["--mode", "nopenalty", "--workdir", str(workdir), "--data_root",
              str(tiny_mnist_dvs), "--max_samples", "16", "--simulator", "fast"]
    test_spiking.main(common)
    test_spiking.main(common)
    assert "already in" in capsys.readouterr().out
    test_spiking.main(common + extra)
    assert "already in" not in capsys.readouterr().out
    frame = pd.read_csv(Workdir(workdir).spiking_csv("nopenalty"))
    assert len(frame) == 1 and check(frame.iloc[0])
    test_spiking.main(common + extra)
    assert "already in" in capsys.readouterr().out


def test_quantization_evaluation_refuses_a_rerun_with_another_energy_model(trained,
                                                                         tiny_mnist_dvs,
                                                                         tmp_path):
    common = ["--workdir", str(tmp_path), "--data_root", str(tiny_mnist_dvs), *QUICK,
              "--max_samples", "8", "--max_train_samples", "64"]
    quant_eval.main(common)
    with pytest.raises(SystemExit, match=r"energy_model: 'loihi' then, 'truenorth' now"):
        quant_eval.main(common + ["--energy_model", "truenorth"])


def test_a_full_disk_is_named_before_training_and_a_failed_save_keeps_the_model(
        tiny_mnist_dvs, tmp_path, monkeypatch, capsys):
    import errno
    import shutil
    from collections import namedtuple

    import synoploss.io as io_module
    common = ["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path / "run"), *QUICK,
              "--nopenalty"]
    usage = namedtuple("usage", "total used free")
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(1, 1, 1000))
    with pytest.raises(SystemExit, match=r"models: 0.000954 MiB free, the 1 checkpoint\(s\) to "
                                         r"train need about"):
        train.main(common)
    assert not Workdir(tmp_path / "run").training_log.exists()  # nothing was trained
    monkeypatch.setattr(shutil, "disk_usage", real_usage)

    def full(path, content):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(io_module, "write_bytes", full)
    monkeypatch.setattr(io_module.tempfile, "gettempdir", lambda: str(tmp_path))
    with pytest.raises(SystemExit, match=r"nopenalty.pth: could not be written \(No space left "
                                         r"on device.*written to .*instead.*records it with its "
                                         r"hash: after the move, a rerun keeps it"):
        train.main(common)
    kept = list(tmp_path.glob("synoploss-unsaved-*-nopenalty.pth"))
    assert len(kept) == 1 and torch.load(kept[0])  # the trained model, kept
    log = pd.read_csv(Workdir(tmp_path / "run").training_log)
    assert log["model_sha256"].tolist() == [file_sha256(kept[0])]
    monkeypatch.undo()
    shutil.move(kept[0], tmp_path / "run" / "models" / "nopenalty.pth")  # as the message says
    capsys.readouterr()
    train.main(common)  # kept, not trained again
    assert "nopenalty.pth: already in" in capsys.readouterr().out
    assert file_sha256(tmp_path / "run" / "models" / "nopenalty.pth") == \
        log["model_sha256"].iloc[0]


@pytest.mark.parametrize("extra,seconds", [([], None), (["--latency", "0.05"], 0.05)])
def test_speck_energy_counts_its_idle_power_for_the_chunks_span(trained, tiny_mnist_dvs,
                                                                 tmp_path, extra, seconds):
    """The static part: 1.17 mW for each chunk's span in the stream (the mean over the
    tested chunks), or for --latency; the dynamic part is 0 (no published pJ)."""
    import shutil

    from synoploss.data.mnist_dvs import SpikeTrainDataset
    workdir = tmp_path / "copy"
    shutil.copytree(trained, workdir, ignore=shutil.ignore_patterns("results"))
    test_spiking.main(["--mode", "nopenalty", "--workdir", str(workdir), "--data_root",
                       str(tiny_mnist_dvs), "--simulator", "fast", "--energy_model", "speck",
                       *extra])
    row = pd.read_csv(Workdir(workdir).spiking_csv("nopenalty")).iloc[0]
    span = SpikeTrainDataset(tiny_mnist_dvs / "test").mean_span_s() if seconds is None \
        else seconds
    assert row["energy_seconds"] == pytest.approx(span) and span > 0
    assert row["energy_static_uj"] == pytest.approx(1.17e-3 * span * 1e6)
    assert row["energy_dynamic_uj"] == 0 and row["energy_uj"] == row["energy_static_uj"]


def test_a_static_input_with_speck_energy_needs_a_latency(tmp_path):
    cifar_test = load_script("CIFAR10_analogue/test.py")
    with pytest.raises(SystemExit, match=r"--energy_model speck counts the chip's idle power.*"
                                         r"--latency SECONDS"):
        cifar_test.main(["--workdir", str(tmp_path), "--standin", "--energy_model", "speck"])


def test_the_benchmark_times_the_whole_process_on_every_test_chunk(trained, tiny_mnist_dvs,
                                                                  tmp_path):
    """test_spiking.py in fresh processes, as a user runs it: sinabs, then fast compiling
    the kernel into an empty numba cache, then fast with that cache."""
    import shutil
    folder = tmp_path / "demo"
    shutil.copytree(trained, folder, ignore=shutil.ignore_patterns("results"))
    (folder / "data").symlink_to(tiny_mnist_dvs)
    bench = load_script("benchmarks/spiking_throughput.py")
    row = bench.whole_process(folder, threads=1)
    assert row["process_samples"] == 20  # every test chunk of the tiny set
    assert row["fast_process_cold_s"] > row["fast_process_s"] > 0
    assert row["process_ratio"] == pytest.approx(row["sinabs_process_s"] / row["fast_process_s"])
    assert not (folder / "results").exists()  # measured in a scratch folder


def test_a_full_disk_while_a_test_writes_its_arrays_names_the_file(trained, tiny_mnist_dvs,
                                                                    tmp_path, monkeypatch):
    """The per-sample arrays of a model could not be written: the script stops naming the
    file and the space, not a bare 'No space left on device'; earlier rows stay."""
    import errno
    import shutil
    workdir = tmp_path / "copy"
    shutil.copytree(trained, workdir, ignore=shutil.ignore_patterns("results"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez_compressed", full)
    with pytest.raises(SystemExit, match=r"test_spiking.py: .*results/samples/nopenalty/\S+\.npz: "
                                         r"could not be written \(No space left on device; .* "
                                         r"free there\)"):
        test_spiking.main(["--mode", "nopenalty", "--workdir", str(workdir), "--data_root",
                           str(tiny_mnist_dvs), "--simulator", "fast", "--max_samples", "8"])


def test_a_model_another_run_is_training_now_is_refused_at_once(tiny_mnist_dvs, tmp_path):
    import os
    import socket
    workdir = tmp_path / "run"
    (workdir / "models").mkdir(parents=True)
    # another live process (this one's parent) claims the baseline
    (workdir / "models" / "nopenalty.pth.busy").write_text(
        f"{socket.gethostname()} {os.getppid()}\n")
    with pytest.raises(SystemExit, match=r"nopenalty.pth: another run \(.*\) is making "
                                         r"models/nopenalty.pth now"):
        train.main(["--data_root", str(tiny_mnist_dvs), "--workdir", str(workdir), *QUICK,
                    "--nopenalty"])
    assert not Workdir(workdir).training_log.exists()

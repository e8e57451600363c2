"""synoploss.experiments.workdir and synoploss.reporting.readers: the names every
script, figure and test shares, and the readers."""
from pathlib import Path

import pandas as pd
import pytest

from synoploss.experiments.workdir import (
    BASELINE,
    SPIKING_CURVES,
    CifarCheckpoint,
    Workdir,
    format_target,
    mnist_dvs_checkpoint,
    model_name,
    quant_only_checkpoint,
)
from synoploss.reporting.readers import read_results, read_spiking_curves


@pytest.mark.parametrize("synop_loss,qat,name", [
    (True, True, "l1-fanout-qtrain"), (True, False, "l1-fanout"), (False, False, "nopenalty"),
    (False, True, "nopenalty-qtrain")])
def test_model_names_are_the_originals(synop_loss, qat, name):
    assert model_name(synop_loss, qat) == name


@pytest.mark.parametrize("value,text", [(158489.3, "1.58e+05"), (None, "none"),
                                        (float("nan"), "none"), (2e6, "2e+06")])
def test_format_target(value, text):
    assert format_target(value) == text


@pytest.mark.parametrize("arguments,filename", [
    (("l1-fanout", 1e6), "l1-fanout_1e+06.pth"), (("nopenalty",), "nopenalty.pth"),
    (("l1-fanout", None, 0.5), "l1-fanout_alpha0.5.pth")])
def test_mnist_dvs_checkpoint_names(arguments, filename):
    assert mnist_dvs_checkpoint(*arguments) == filename


@pytest.mark.parametrize("filename,dropout,round_index", [
    ("d0.2_0.1_-1.pth", (0.2, 0.1), -1), ("d0.2_0_3.pth", (0.2, 0.0), 3),
    ("d0.5_0.25_29.pth", (0.5, 0.25), 29)])
def test_cifar_checkpoint_names_round_trip(filename, dropout, round_index):
    parsed = CifarCheckpoint.parse(f"/any/models/{filename}")
    assert (parsed.dropout, parsed.round) == (dropout, round_index)
    assert parsed.filename == filename


@pytest.mark.parametrize("filename", ["d0.2_0.1.pth", "model_3.pth", "d0.2_0.1_3.pt"])
def test_a_foreign_checkpoint_name_is_refused_with_the_form(filename):
    with pytest.raises(ValueError, match=r"d<input dropout>_<hidden dropout>_<round>\.pth"):
        CifarCheckpoint.parse(filename)


def test_a_work_folder_can_move(tmp_path):
    """Logs name checkpoints relative to the work folder, so a moved folder still finds
    them; every result file lies inside the folder it belongs to."""
    before, after = Workdir(tmp_path / "a"), Workdir(tmp_path / "b")
    entry = before.model_entry(quant_only_checkpoint(2.1, False))
    assert not Path(entry).is_absolute()
    assert after.model(entry).relative_to(after.root) == before.model(entry).relative_to(
        before.root)
    for path in (before.training_log, before.spiking_csv(BASELINE), before.cifar_inference,
                 before.quant_eval_csv(True), before.opt_benchmark):
        assert path.is_relative_to(before.root)
    assert len({before.spiking_csv(name) for name in (BASELINE, *SPIKING_CURVES.values())}) \
        == 1 + len(SPIKING_CURVES)  # one file per curve


def test_spiking_curves_are_read_only_where_they_exist(tmp_path):
    files = Workdir(tmp_path)
    files.results.mkdir()
    row = dict(snn_accuracy=0.9, snn_synops=1e6, ann_synops=9e5, model_path="models/a.pth")
    pd.DataFrame([row]).to_csv(files.spiking_csv(SPIKING_CURVES["SynOp+QAT"]), index=False)
    curves = read_spiking_curves(tmp_path)
    assert list(curves) == ["SynOp+QAT"] and curves["SynOp+QAT"]["snn_synops"].iloc[0] == 1e6


def test_read_results_names_an_empty_file_and_garbage(tmp_path):
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="empty.csv: no rows"):
        read_results(tmp_path / "empty.csv")
    (tmp_path / "bad.csv").write_text("snn_synops,data\n1,x\n2,y\noops,z\n")
    with pytest.raises(ValueError, match="bad.csv: line 4, column 'snn_synops'"):
        read_results(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv is missing"):
        read_results(tmp_path / "missing.csv")


def test_the_originals_round_30_name_is_read_only_when_asked():
    """The original saves rounds 29 and 30 as d0.2_0.1_0.1.pth (its round index is set to
    0.1); with original_names it is round 30, otherwise a foreign name."""
    assert CifarCheckpoint.parse("d0.2_0.1_0.1.pth", original_names=True).round == 30
    with pytest.raises(ValueError):
        CifarCheckpoint.parse("d0.2_0.1_0.1.pth")


@pytest.mark.parametrize("row,expected", [
    ({"fanout": "paper"}, "paper"), ({"fanout": "exact"}, "exact"),
    ({"fanout": float("nan")}, "exact"), ({}, "exact")])
def test_trained_fanout_reads_the_log_and_defaults_for_older_logs(row, expected):
    from synoploss.experiments.workdir import trained_fanout
    assert trained_fanout(row) == expected


def spiking_row(model, simulator, n_samples, data="STAND-IN: a", accuracy=0.9):
    return dict(model_path=f"models/{model}.pth", snn_accuracy=accuracy, snn_synops=1e6,
                ann_synops=9e5, simulator=simulator, n_samples=n_samples, dt_us=1000,
                data=data)


def test_one_evaluation_is_compared_the_others_are_named(tmp_path):
    """The baseline's evaluation with the most test samples (then sinabs) is chosen; rows
    of other evaluations are left out and listed; two data sets under it are refused."""
    from synoploss.reporting.readers import MixedResults, read_spiking_results
    files = Workdir(tmp_path)
    files.results.mkdir()
    pd.DataFrame([spiking_row("nopenalty", "fast", 300), spiking_row("nopenalty", "sinabs", 2000),
                  spiking_row("nopenalty", "fast", 2000)]).to_csv(
        files.spiking_csv(BASELINE), index=False)
    curve = files.spiking_csv(SPIKING_CURVES["SynOp+QAT"])
    pd.DataFrame([spiking_row("q", "sinabs", 2000, accuracy=0.8),
                  spiking_row("q", "fast", 300, accuracy=0.1)]).to_csv(curve, index=False)
    results = read_spiking_results(tmp_path)
    assert results.evaluation["simulator"] == "sinabs" and results.evaluation["n_samples"] == 2000
    assert results.label == "sinabs simulator, 2000 test samples, 1000 µs bins"
    assert len(results.baseline) == 1 and results.curves["SynOp+QAT"]["snn_accuracy"].tolist() \
        == [0.8]
    assert sorted((other["simulator"], other["n_samples"]) for other in results.others) == [
        ("fast", 300), ("fast", 2000)]
    pd.DataFrame([spiking_row("q", "sinabs", 2000, data="STAND-IN: b")]).to_csv(curve,
                                                                                index=False)
    with pytest.raises(MixedResults, match="2 data sets"):
        read_spiking_results(tmp_path)


def test_the_quant_only_files_are_named_by_training(tmp_path):
    files = Workdir(tmp_path)
    assert files.quant_spiking_csv(True) != files.quant_spiking_csv(False)
    assert files.quant_spiking_csv(True).parent == files.results
    assert "qtrain_True" in files.quant_spiking_csv(True).name


@pytest.mark.parametrize("path, documented", [
    # the layout docs/experiments.md gives; scripts, figures and the notebook read these
    (lambda files: files.training_log, "training_log.csv"),
    (lambda files: files.epoch_log, "epoch_log.csv"),
    (lambda files: files.models, "models"),
    (lambda files: files.results, "results"),
    (lambda files: files.model(files.model_entry("a.pth")), "models/a.pth"),
    (lambda files: files.spiking_csv("nopenalty"), "results/nopenalty_spiking.csv"),
    (lambda files: files.ann_csv("nopenalty"), "results/nopenalty_ann.csv"),
    (lambda files: files.activity_accuracy, "results/activity_accuracy.csv"),
    (lambda files: files.opt_benchmark, "results/opt_benchmark.npz"),
    (lambda files: files.cifar_inference, "results/log_inference.csv"),
    (lambda files: files.quant_eval_csv(True), "results/quant_eval_qtrain_True.csv"),
    (lambda files: files.quant_spiking_csv(False), "results/spiking_qtrain_False.csv"),
])
def test_a_work_folders_files_are_where_the_docs_say(tmp_path, path, documented):
    assert path(Workdir(tmp_path)) == tmp_path / documented


def test_per_sample_arrays_are_named_by_model_setting_and_evaluation(tmp_path):
    from synoploss.experiments.workdir import samples_file
    files = Workdir(tmp_path)
    row = dict(model_path="models/a.pth", scale=2.0, simulator="fast")
    path = samples_file(files, "nopenalty", row)
    assert path.parent == tmp_path / "results" / "samples" / "nopenalty"
    assert path.name.startswith("a_scale2_") and path.suffix == ".npz"
    # another evaluation of the same model: another file, never an overwrite
    assert samples_file(files, "nopenalty", {**row, "simulator": "sinabs"}) != path
